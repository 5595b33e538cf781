package state

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ItemSize is the size of item as DynamoDB counts it for capacity units,
// by the rules of
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
// (item sizes and formats): the sum, over its attributes, of the name's
// UTF-8 length and the value's size (ValueSize). A write is billed 1 write
// unit per started KB (1,024 bytes) of it, twice in a transaction; an
// update by the larger of the item's sizes before and after it
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
func ItemSize(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + ValueSize(v)
	}
	return n
}

// ValueSize is the size of one attribute value without its name:
// strings their UTF-8 bytes, binary its raw bytes (not base64), a number
// one byte per two significant digits plus one (an approximation, as the
// page says), null and Boolean one byte, a list or map 3 bytes plus one
// per element plus its elements (and a map's names), a set the sum of
// its elements.
func ValueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return numberSize(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + ValueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + ValueSize(e)
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, e := range v.Value {
			n += len(e)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, e := range v.Value {
			n += numberSize(e)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, e := range v.Value {
			n += len(e)
		}
		return n
	}
	return 0
}

// numberSize is (significant digits + 1)/2 + 1: s's digits without sign,
// exponent, point, and leading and trailing zeros.
func numberSize(s string) int {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimLeft(s, "+-")
	s = strings.Replace(s, ".", "", 1)
	s = strings.Trim(s, "0")
	if s == "" {
		return 1 // zero
	}
	return (len(s)+1)/2 + 1
}
