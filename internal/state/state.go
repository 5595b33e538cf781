// Package state is sesguard's memory shared across Lambda execution
// environments: one DynamoDB table per stack holding idempotency records,
// alert storm windows, announced levels and the shared facts cache.
//
// In AWS every function runs in many environments at once and SNS and SQS
// deliver at least once, sometimes to another environment. Whatever must
// happen once (act on a record, announce a storm, announce a level) is
// decided here by a conditional write, never by process memory.
//
// Rules every operation keeps:
//   - The caller passes now. Decisions compare times stored in the items
//     with it, so a simulated clock works; the table's TTL attribute only
//     cleans up, and correctness never depends on when (or whether)
//     DynamoDB deletes an expired item.
//   - Degrade, never block: when DynamoDB throttles, fails or is
//     unreachable, the Store answers from process memory with the same
//     semantics within the environment (duplicates across environments
//     accepted, never an alert lost), logs it, and counts it (Fallbacks,
//     published as metrics.StateFallbacks).
//   - Expressions come from the SDK's expression builder. Its placeholders
//     are #0, #1, …; kumo (v0.33.1) substitutes placeholders that are
//     prefixes of one another (#1, #10) wrongly, so no expression here uses
//     more than ten names (a test checks the builder's output).
//
// Items: every item has the partition key pk and the sort key sk. Windows
// live in one partition (pk "win", sk the alert key) so that a flush finds
// them with one Query; everything else is pk "<kind>#<key>", sk "-".
package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// EnvTable names the environment variable holding the state table's name.
// Empty means no table: every function keeps today's in-memory behaviour.
const EnvTable = "STATE_TABLE"

// Attribute names of the table's key and TTL (the template declares them;
// a test compares).
const (
	AttrPK  = "pk"
	AttrSK  = "sk"
	AttrTTL = "ttl"
)

// IAMActions are the DynamoDB actions the Store calls: a function using
// every part of it (triage) needs them all. TransactWriteItems and
// TransactGetItems have no action of their own: DynamoDB authorises each
// item by its action (a claim's Put, a retake's or a storm count's
// Update, a read's Get), so these cover them (a test records the actions
// the operations use). See
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
var IAMActions = []string{
	"dynamodb:GetItem",
	"dynamodb:PutItem",
	"dynamodb:UpdateItem",
	"dynamodb:Query",
	"dynamodb:BatchWriteItem",
	"dynamodb:BatchGetItem",
}

// LevelIAMActions are the actions of Value, Swap, Level, BeginLevel and
// FinishLevel alone (bouncewatch's levels and records).
var LevelIAMActions = []string{
	"dynamodb:GetItem",
	"dynamodb:UpdateItem",
}

// DB is the part of *dynamodb.Client the Store uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Store is the shared state. A nil DB (no table configured) makes every
// operation the in-memory one, without counting fallbacks. Safe for
// concurrent use.
type Store struct {
	db    DB
	table string
	log   *slog.Logger
	wall  func() time.Time

	fallbacks atomic.Int64
	calls     atomic.Int64
	// down is set when a batch claim found the table unavailable
	// (throttled, failing) and cleared by the invocation's FinishAll (and
	// the next ClaimBatch): in between, the other operations answer from
	// memory at once, counted as fallbacks, instead of each asking a table
	// known to be failing, with the SDK's retries, while the invocation's
	// deadline runs.
	down atomic.Bool

	mu  sync.Mutex
	mem memory
	// opened caches the window each key was last seen open at, so an
	// occurrence in an open window costs one write (ADD) instead of two.
	opened map[string]openInfo
	vals   *memValues // versioned values in memory (fallback), made on first use
}

// Options configures a Store.
type Options struct {
	DB    DB     // nil: memory only
	Table string // required with DB
	Log   *slog.Logger
	// Wall is the wall clock used only for the TTL attribute (DynamoDB
	// deletes on its own wall clock); time.Now by default.
	Wall func() time.Time
}

// New returns a Store.
func New(o Options) (*Store, error) {
	if o.DB != nil && o.Table == "" {
		return nil, errors.New("state: a DB needs a table name")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Wall == nil {
		o.Wall = time.Now
	}
	return &Store{db: o.DB, table: o.Table, log: o.Log, wall: o.Wall, mem: newMemory(), opened: map[string]openInfo{}}, nil
}

// Shared reports whether the Store writes to a table (false: memory only).
func (s *Store) Shared() bool { return s != nil && s.db != nil }

// Fallbacks returns the number of operations answered from memory because
// DynamoDB failed, since the last call (the caller publishes it).
func (s *Store) Fallbacks() int { return int(s.fallbacks.Swap(0)) }

// Calls returns the number of DynamoDB calls made since the last call.
func (s *Store) Calls() int { return int(s.calls.Swap(0)) }

// errSkipped is the error of a call not made: the table was found
// unavailable earlier in the invocation (Store.down).
var errSkipped = errors.New("state table unavailable earlier in this invocation: not asked")

// fellBack logs and counts one operation answered from memory (a skipped
// call is counted, not logged again).
func (s *Store) fellBack(ctx context.Context, op, key string, err error) {
	s.fallbacks.Add(1)
	if errors.Is(err, errSkipped) {
		return
	}
	s.log.WarnContext(ctx, "state table unavailable: answered from this environment's memory", "op", op, "key", key, "err", err)
}

// ttl is the TTL attribute for an item worth keeping for keep after now:
// in wall-clock seconds, since that is what DynamoDB deletes by, and never
// before the caller's now (a simulated clock ahead of the wall).
func (s *Store) ttl(now time.Time, keep time.Duration) int64 {
	t := s.wall()
	if now.After(t) {
		t = now
	}
	return t.Add(keep).Unix()
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: pk},
		AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

// single is the sort key of items alone in their partition.
const single = "-"

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// conditionFailed reports whether err is a failed condition (someone else
// decided), as opposed to DynamoDB failing.
func conditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

// built is an update expression ready for UpdateItem or a transaction's
// Update.
type built struct {
	update, cond *string
	names        map[string]string
	values       map[string]types.AttributeValue
}

// build builds upd and cond (cond may be nil) for the item pk/sk.
func build(pk, sk string, upd expression.UpdateBuilder, cond *expression.ConditionBuilder) (built, error) {
	b := expression.NewBuilder().WithUpdate(upd)
	if cond != nil {
		b = b.WithCondition(*cond)
	}
	e, err := b.Build()
	if err != nil {
		return built{}, fmt.Errorf("state: build update of %s/%s: %w", pk, sk, err)
	}
	// The builder separates clauses (SET, ADD, REMOVE) with newlines;
	// kumo (v0.33.1) only recognises a clause keyword after a space, and
	// DynamoDB takes either.
	updExpr := strings.TrimSpace(strings.ReplaceAll(aws.ToString(e.Update()), "\n", " "))
	condExpr := e.Condition()
	if condExpr != nil {
		// The builder writes "size (#1)"; kumo (v0.33.1) only parses
		// "size(#1)", and DynamoDB takes either.
		condExpr = aws.String(strings.ReplaceAll(*condExpr, "size (", "size("))
	}
	return built{update: aws.String(updExpr), cond: condExpr, names: e.Names(), values: e.Values()}, nil
}

// update runs an UpdateItem built from upd and cond (cond may be nil)
// returning rv, and decodes the returned attributes into out (may be nil).
func (s *Store) update(ctx context.Context, pk, sk string, upd expression.UpdateBuilder, cond *expression.ConditionBuilder, rv types.ReturnValue, out any) error {
	e, err := build(pk, sk, upd, cond)
	if err != nil {
		return err
	}
	if s.down.Load() {
		return errSkipped
	}
	s.calls.Add(1)
	res, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(pk, sk),
		UpdateExpression:          e.update,
		ConditionExpression:       e.cond,
		ExpressionAttributeNames:  e.names,
		ExpressionAttributeValues: e.values,
		ReturnValues:              rv,
	})
	if err != nil {
		return err
	}
	if out != nil && len(res.Attributes) > 0 {
		if err := attributevalue.UnmarshalMap(res.Attributes, out); err != nil {
			return fmt.Errorf("state: decode %s/%s: %w", pk, sk, err)
		}
	}
	return nil
}

// txUpdate is the transaction item of the same update (txItem).
func (s *Store) txUpdate(pk, sk string, upd expression.UpdateBuilder, cond *expression.ConditionBuilder) (types.TransactWriteItem, error) {
	e, err := build(pk, sk, upd, cond)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return s.txItem(pk, sk, e), nil
}

// txItem is a transaction's Update of pk/sk with e, returning the old
// item in its cancellation reason when the condition fails (DynamoDB does;
// kumo v0.33.1 ignores it and the caller reads the item). Items of one
// transaction may share e (its maps are only read).
func (s *Store) txItem(pk, sk string, e built) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                           aws.String(s.table),
		Key:                                 key(pk, sk),
		UpdateExpression:                    e.update,
		ConditionExpression:                 e.cond,
		ExpressionAttributeNames:            e.names,
		ExpressionAttributeValues:           e.values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
}

// get reads an item with a strongly consistent read (a decision follows);
// found is false when there is none.
func (s *Store) get(ctx context.Context, pk, sk string, out any) (found bool, err error) {
	if s.down.Load() {
		return false, errSkipped
	}
	s.calls.Add(1)
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(pk, sk),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, err
	}
	if len(res.Item) == 0 {
		return false, nil
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return false, fmt.Errorf("state: decode %s/%s: %w", pk, sk, err)
	}
	return true, nil
}

func (s *Store) put(ctx context.Context, item any) error {
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return fmt.Errorf("state: encode item: %w", err)
	}
	if s.down.Load() {
		return errSkipped
	}
	s.calls.Add(1)
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: av})
	return err
}
