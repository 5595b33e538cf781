package main

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/sivchari/kumo"

	"github.com/sesguard/sesguard/internal/state"
	"github.com/sesguard/sesguard/internal/testkit"
)

// TestDDBWriteUnits: the bench charges a put by its item's size and an
// update by the larger of its request and the item it leaves (read back
// after the run), transactional writes twice.
func TestDDBWriteUnits(t *testing.T) {
	ctx := context.Background()
	srv := kumo.NewServer()
	t.Cleanup(srv.Close)
	direct := dynamodb.NewFromConfig(testkit.ConfigFor(srv.URL))
	name := testkit.Unique("bench-ddb")
	if err := state.CreateTable(ctx, direct, name); err != nil {
		t.Fatal(err)
	}
	proxy, counter := ddbCountingProxy(srv.URL)
	t.Cleanup(proxy.Close)
	db := dynamodb.NewFromConfig(testkit.ConfigFor(proxy.URL))
	key := func(pk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: "-"}}
	}

	// A small put: 1 unit.
	put := key("small")
	put["n"] = &types.AttributeValueMemberN{Value: "12345"}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: put}); err != nil {
		t.Fatal(err)
	}
	// An update writing 1.5 KB: 2 units from its request.
	body := make([]byte, 1536)
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(name), Key: key("big"),
		UpdateExpression:          aws.String("SET #b = :b"),
		ExpressionAttributeNames:  map[string]string{"#b": "body"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":b": &types.AttributeValueMemberB{Value: body}}})
	if err != nil {
		t.Fatal(err)
	}
	// A transactional count into that item: a small request, billed by
	// the 1.5 KB item, twice: 4 units.
	_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Update: &types.Update{
		TableName: aws.String(name), Key: key("big"),
		UpdateExpression:          aws.String("ADD #h :one"),
		ExpressionAttributeNames:  map[string]string{"#h": "held"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}}}}}})
	if err != nil {
		t.Fatal(err)
	}

	c := counter.snapshot()
	if c.wru() != 1+2+2 {
		t.Errorf("from the requests: %d write units, want 5", c.wru())
	}
	if err := c.chargeStored(ctx, direct); err != nil {
		t.Fatal(err)
	}
	if c.wru() != 1+2+4 || c.storedUnits != 2 {
		t.Errorf("with the stored sizes: %d write units (%d for stored items), want 7 (2)", c.wru(), c.storedUnits)
	}
	// pk "small" 2+5, sk "-" 2+1, n 12345 1+(3 started digit pairs + 1).
	if c.maxItem["PutItem"] != 7+3+5 {
		t.Errorf("put item of %d bytes, want 15", c.maxItem["PutItem"])
	}
}
