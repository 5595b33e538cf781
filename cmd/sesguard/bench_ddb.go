package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sesguard/sesguard/internal/state"
)

// ddbCounts is what a storm asked of DynamoDB, seen on the wire.
type ddbCounts struct {
	calls      int64
	ops        map[string]int64
	batchItems int64
	txItems    int64 // items of TransactWriteItems calls
	txReads    int64 // items of TransactGetItems calls
	batchReads int64 // keys of BatchGetItem calls
	// writeUnits is what DynamoDB bills the writes, as an upper bound
	// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):
	// per write request and per item of a BatchWriteItem, one unit per
	// started KB of the item's size, twice that per item of a
	// TransactWriteItems; a cancelled transaction or failed condition is
	// counted as if written. Sizes are DynamoDB's
	// (state.ItemSize: attribute names plus values, binary values raw,
	// per https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
	// a put's item, a delete's key (the deleted item is not known), an
	// update's key and expression values at first. An update is billed by
	// the larger of the item's sizes before and after it, which the
	// request need not show (a count written without the alert body the
	// item keeps): chargeStored reads every updated item back and raises
	// each update's charge to the item's size.
	writeUnits int64
	maxItem    map[string]int // by operation
	// updated are the updates seen, per item, for chargeStored.
	updated map[string]*updatedItem
	// storedUnits is what chargeStored added; storedMax the largest item
	// it read.
	storedUnits int64
	storedMax   int
}

// updatedItem is one item's updates: the request-derived size of each,
// and whether it was transactional.
type updatedItem struct {
	table string
	key   map[string]types.AttributeValue
	reqs  []updateReq
}

type updateReq struct {
	size int
	tx   bool
}

// itemReader is the part of *dynamodb.Client chargeStored uses.
type itemReader interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// chargeStored reads each updated item once (after the run: the sizes
// are those the items ended with, which for the storm's windows and
// claims are their largest) and charges each update by the larger of its
// request-derived size and the item's. An item gone since (deleted) keeps
// the request's charge.
func (c *ddbCounts) chargeStored(ctx context.Context, db itemReader) error {
	for _, u := range c.updated {
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(u.table), Key: u.key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("read back an updated item of %s: %w", u.table, err)
		}
		stored := state.ItemSize(out.Item)
		c.storedMax = max(c.storedMax, stored)
		for _, r := range u.reqs {
			extra := units(stored) - units(r.size)
			if extra <= 0 {
				continue
			}
			if r.tx {
				extra *= 2
			}
			c.writeUnits += extra
			c.storedUnits += extra
		}
	}
	return nil
}

func (c ddbCounts) wru() int64 { return c.writeUnits }

// rru: every read here is a strongly consistent GetItem, BatchGetItem key
// or Query of the window partition, each well under 4 KB: one read
// request unit each; a TransactGetItems item costs two.
func (c ddbCounts) rru() int64 {
	return c.ops["GetItem"] + c.ops["Query"] + c.batchReads + 2*c.txReads
}

func (c ddbCounts) String() string {
	names := make([]string, 0, len(c.ops))
	for k := range c.ops {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		s := fmt.Sprintf("%s %d", k, c.ops[k])
		switch k {
		case "BatchWriteItem":
			s += fmt.Sprintf(" (%d items)", c.batchItems)
		case "TransactWriteItems":
			s += fmt.Sprintf(" (%d items)", c.txItems)
		case "TransactGetItems":
			s += fmt.Sprintf(" (%d items)", c.txReads)
		case "BatchGetItem":
			s += fmt.Sprintf(" (%d keys)", c.batchReads)
		}
		if n := c.maxItem[k]; n > 0 {
			s += fmt.Sprintf(" <= %d B", n)
		}
		parts = append(parts, s)
	}
	if len(c.updated) > 0 {
		parts = append(parts, fmt.Sprintf("updated items read back %d <= %d B", len(c.updated), c.storedMax))
	}
	return strings.Join(parts, ", ")
}

type ddbCounter struct {
	mu sync.Mutex
	c  ddbCounts
	// pending is the requests forwarded but not yet counted: counting
	// (decoding the body) runs beside the call, not in its path, so that
	// it adds nothing to the function's latency.
	pending sync.WaitGroup
}

func (d *ddbCounter) reset() {
	d.pending.Wait()
	d.mu.Lock()
	d.c = ddbCounts{ops: map[string]int64{}, maxItem: map[string]int{}, updated: map[string]*updatedItem{}}
	d.mu.Unlock()
}

func (d *ddbCounter) snapshot() ddbCounts {
	d.pending.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.c
	c.ops = maps.Clone(d.c.ops)
	c.maxItem = maps.Clone(d.c.maxItem)
	c.updated = map[string]*updatedItem{}
	for k, u := range d.c.updated {
		c.updated[k] = &updatedItem{table: u.table, key: u.key, reqs: slices.Clone(u.reqs)}
	}
	return c
}

func units(n int) int64 { return int64((n + 1023) / 1024) }

// ddbCountingProxy forwards to target and counts DynamoDB requests by
// operation (the X-Amz-Target header of DynamoDB's JSON protocol).
func ddbCountingProxy(target string) (*httptest.Server, *ddbCounter) {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	d := &ddbCounter{}
	d.reset()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		op = op[strings.LastIndexByte(op, '.')+1:]
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		d.pending.Add(1)
		go d.count(op, body)
		rp.ServeHTTP(w, r)
	})), d
}

// count counts one request of operation op with body.
func (d *ddbCounter) count(op string, body []byte) {
	defer d.pending.Done()
	type update struct {
		TableName                 string
		Key                       wireItem
		ExpressionAttributeValues wireItem
	}
	var in struct {
		TableName                 string
		Item                      wireItem
		Key                       wireItem
		ExpressionAttributeValues wireItem
		RequestItems              json.RawMessage // BatchWriteItem's or BatchGetItem's
		TransactItems             []struct {
			Put    *struct{ Item wireItem }
			Update *update
			Delete *struct{ Key wireItem }
			Get    json.RawMessage
		}
	}
	_ = json.Unmarshal(body, &in)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.c.calls++
	d.c.ops[op]++
	write := func(n int, tx bool) {
		d.c.writeUnits += units(n)
		if tx {
			d.c.txItems++
			d.c.writeUnits += units(n) // transactional: twice
		}
		d.c.maxItem[op] = max(d.c.maxItem[op], n)
	}
	updated := func(u update, tx bool) {
		n := u.Key.size() + u.ExpressionAttributeValues.valuesSize()
		write(n, tx)
		id := u.TableName + "\x00" + u.Key.id()
		it := d.c.updated[id]
		if it == nil {
			it = &updatedItem{table: u.TableName, key: u.Key.attrs()}
			d.c.updated[id] = it
		}
		it.reqs = append(it.reqs, updateReq{size: n, tx: tx})
	}
	switch op {
	case "PutItem":
		write(in.Item.size(), false)
	case "DeleteItem":
		write(in.Key.size(), false)
	case "UpdateItem":
		updated(update{in.TableName, in.Key, in.ExpressionAttributeValues}, false)
	case "BatchWriteItem":
		var items map[string][]struct {
			PutRequest    *struct{ Item wireItem }
			DeleteRequest *struct{ Key wireItem }
		}
		_ = json.Unmarshal(in.RequestItems, &items)
		for _, reqs := range items {
			for _, q := range reqs {
				d.c.batchItems++
				switch {
				case q.PutRequest != nil:
					write(q.PutRequest.Item.size(), false)
				case q.DeleteRequest != nil:
					write(q.DeleteRequest.Key.size(), false)
				}
			}
		}
	case "TransactWriteItems":
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				write(it.Put.Item.size(), true)
			case it.Update != nil:
				updated(*it.Update, true)
			case it.Delete != nil:
				write(it.Delete.Key.size(), true)
			}
		}
	case "TransactGetItems":
		d.c.txReads += int64(len(in.TransactItems))
	case "BatchGetItem":
		var keys map[string]struct{ Keys []json.RawMessage }
		_ = json.Unmarshal(in.RequestItems, &keys)
		for _, k := range keys {
			d.c.batchReads += int64(len(k.Keys))
		}
	}
}

// wireItem is an item (or key, or expression values) as DynamoDB's JSON
// protocol carries it.
type wireItem map[string]wireValue

// wireValue is one attribute value on the wire: exactly one field set
// (B and BS are base64 there, raw here).
type wireValue struct {
	S    *string
	N    *string
	B    []byte
	BOOL *bool
	NULL *bool
	L    []wireValue
	M    map[string]wireValue
	SS   []string
	NS   []string
	BS   [][]byte
}

func (v wireValue) attr() types.AttributeValue {
	switch {
	case v.S != nil:
		return &types.AttributeValueMemberS{Value: *v.S}
	case v.N != nil:
		return &types.AttributeValueMemberN{Value: *v.N}
	case v.B != nil:
		return &types.AttributeValueMemberB{Value: v.B}
	case v.BOOL != nil:
		return &types.AttributeValueMemberBOOL{Value: *v.BOOL}
	case v.NULL != nil:
		return &types.AttributeValueMemberNULL{Value: *v.NULL}
	case v.L != nil:
		l := make([]types.AttributeValue, len(v.L))
		for i, e := range v.L {
			l[i] = e.attr()
		}
		return &types.AttributeValueMemberL{Value: l}
	case v.M != nil:
		return &types.AttributeValueMemberM{Value: wireItem(v.M).attrs()}
	case v.SS != nil:
		return &types.AttributeValueMemberSS{Value: v.SS}
	case v.NS != nil:
		return &types.AttributeValueMemberNS{Value: v.NS}
	case v.BS != nil:
		return &types.AttributeValueMemberBS{Value: v.BS}
	}
	return &types.AttributeValueMemberNULL{Value: true}
}

func (w wireItem) attrs() map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(w))
	for k, v := range w {
		out[k] = v.attr()
	}
	return out
}

// size is w's size as an item (state.ItemSize).
func (w wireItem) size() int { return state.ItemSize(w.attrs()) }

// valuesSize is the size of w's values without their names (expression
// attribute values: their placeholders are not stored).
func (w wireItem) valuesSize() int {
	n := 0
	for _, v := range w {
		n += state.ValueSize(v.attr())
	}
	return n
}

// id identifies the item of key w, whatever the order of its attributes
// on the wire.
func (w wireItem) id() string {
	names := slices.Sorted(maps.Keys(w))
	var b strings.Builder
	for _, k := range names {
		v, _ := json.Marshal(w[k])
		fmt.Fprintf(&b, "%s=%s;", k, v)
	}
	return b.String()
}
