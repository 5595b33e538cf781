package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Batch claims: an invocation's records claimed together, with one
// TransactWriteItems call per 100 items instead of one conditional write
// per record, and finished together with one BatchWriteItem per 25. A
// storm of N records in batches of B then costs about 2N/B calls, not 2N.
//
// A transaction is all or nothing: one record already claimed or done (a
// redelivery) cancels it. Its CancellationReasons say which items failed
// their condition (kumo v0.33.1 fills their codes, as DynamoDB does, but
// not the items); those records are read (DynamoDB returns them in the
// reasons, else one TransactGetItems) and the transaction is retried
// without the done ones and the ones a live claim holds, retaking the
// failed ones with the steps their earlier attempts completed.
// Redeliveries are a few percent of records: the common batch costs one
// call, one with redeliveries three.

// TransactDB is the optional part of DB that ClaimBatch uses;
// *dynamodb.Client has it. A DB without it (a test's fake) gets one
// conditional claim per record, as Claim makes.
//
// IAM: a transaction is authorised per item, by the item's own action: a
// new claim is a Put (dynamodb:PutItem), a retake and a caller's write an
// Update (dynamodb:UpdateItem), every item read a Get (dynamodb:GetItem).
type TransactDB interface {
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	TransactGetItems(ctx context.Context, in *dynamodb.TransactGetItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactGetItemsOutput, error)
}

// DynamoDB's limits on one TransactWriteItems call. The byte limit is
// checked against an estimate (attribute names and values, with a margin):
// claims are about 100 bytes and a window count carries one alert.
const (
	maxTxItems = 100
	maxTxBytes = 4<<20 - 64<<10
)

// BatchWrites are writes a caller commits in the same transactions as a
// batch's claims, derived from the records those transactions acquire:
// AlertWindows.Precount's pre-aggregated storm counts, so that they are
// written if and only if their records are claimed. Only this package
// implements it.
type BatchWrites interface {
	// touches returns the sort keys of the items record i's writes
	// update (one item may serve several records).
	touches(i int) []string
	// writes returns one write per item the records acquired touch,
	// leaving out dropped items; bytes estimates their size.
	writes(acquired []int) (ws []txWrite, err error)
	// refused says an item's write cancelled the transaction: its
	// condition failed (condition), or another transaction is writing it.
	// The next writes do without it, or write it otherwise.
	refused(sk string, condition bool)
	// committed says the writes for acquired are in the table.
	committed(acquired []int)
}

// txWrite is one item of a transaction besides the claims.
type txWrite struct {
	sk    string
	item  types.TransactWriteItem
	bytes int
}

// Cancellation reason codes (DynamoDB's; kumo v0.33.1 sends "" for None).
const (
	reasonNone      = "None"
	reasonCondition = "ConditionalCheckFailed"
	reasonConflict  = "TransactionConflict"
)

// ClaimBatch claims every record of keys for an attempt lasting at most
// hold, as Claim does for one, and commits with's writes (nil: none) for
// the new records it acquires in the same transactions (with learns
// which: committed). A key repeated in keys is InProgress after its first
// occurrence (the first holds it). DynamoDB failing (throttled, down)
// answers from memory, counted as a fallback, as Claim does, and the
// invocation's other operations then use memory until FinishAll. A DB
// without transactions claims each record alone, without with's writes.
func (s *Store) ClaimBatch(ctx context.Context, keys []string, now time.Time, hold time.Duration, with BatchWrites) []Claim {
	s.down.Store(false) // a new invocation asks the table again
	out := make([]Claim, len(keys))
	seen := make(map[string]bool, len(keys))
	var batch []int
	for i, k := range keys {
		if seen[k] {
			out[i] = Claim{Outcome: InProgress}
			continue
		}
		seen[k] = true
		batch = append(batch, i)
	}
	tx, ok := s.db.(TransactDB)
	if s.db == nil || !ok {
		for _, i := range batch {
			out[i], _ = s.Claim(ctx, keys[i], now, hold)
		}
		return out
	}
	// A record an earlier attempt in this environment finished in memory
	// (the table was down) is claimed alone: Claim knows it done, or
	// merges the steps that attempt completed, which the transaction's
	// claims do not carry.
	var alone, joint []int
	for _, i := range batch {
		if s.mem.isDone(keys[i]) || len(s.mem.flags(keys[i])) > 0 {
			alone = append(alone, i)
		} else {
			joint = append(joint, i)
		}
	}
	for _, i := range alone {
		out[i], _ = s.Claim(ctx, keys[i], now, hold)
	}
	for _, chunk := range chunks(joint, with) {
		s.claimChunk(ctx, tx, keys, chunk, now, hold, with, out)
	}
	return out
}

// chunks splits records into transactions of at most maxTxItems items,
// counting each item with's writes touch once per chunk.
func chunks(recs []int, with BatchWrites) [][]int {
	var out [][]int
	var cur []int
	touched := map[string]bool{}
	for _, i := range recs {
		var fresh []string
		if with != nil {
			for _, sk := range with.touches(i) {
				if !touched[sk] {
					fresh = append(fresh, sk)
				}
			}
		}
		if len(cur) > 0 && len(cur)+len(touched)+1+len(fresh) > maxTxItems {
			out = append(out, cur)
			cur, touched, fresh = nil, map[string]bool{}, nil
			if with != nil {
				fresh = with.touches(i)
			}
		}
		cur = append(cur, i)
		for _, sk := range fresh {
			touched[sk] = true
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// claimCondition is a transaction's claim of a record it has not read:
// the record is new. Any other (done, held, or retakeable: failed, or its
// holder dead) fails it and is read, then retaken (retakeCondition) with
// the steps its earlier attempts completed, which a transaction does not
// return. A short condition: DynamoDB parses one per item.
func claimCondition() expression.ConditionBuilder {
	return expression.AttributeNotExists(expression.Name(AttrPK))
}

// retakeCondition claims a record read as it, retakeable at now (failed,
// or claimed past its deadline): it is still as read. Steps are only ever
// added, so their number tells whether another environment completed one
// meanwhile.
func retakeCondition(it idemItem) expression.ConditionBuilder {
	status, flags := expression.Name("status"), expression.Name("flags")
	same := status.Equal(expression.Value(it.Status))
	if it.Status == statusClaimed {
		same = same.And(expression.Name("until").Equal(expression.Value(it.Until)))
	}
	if len(it.Flags) == 0 {
		return same.And(expression.AttributeNotExists(flags))
	}
	return same.And(flags.Size().Equal(expression.Value(len(it.Flags))))
}

// retakeable reports whether a record read as it may be claimed at now.
func retakeable(it idemItem, now time.Time) bool {
	return it.Status == statusFailed || it.Status == statusClaimed && it.Until <= ms(now)
}

// txClaim is a record a transaction claims.
type txClaim struct {
	i int
	// retake is the update retaking a record read back (its steps kept);
	// nil: a new claim, a conditional Put.
	retake *built
	// flags are the steps its earlier attempts completed (read back);
	// a record without is fresh: its caller's writes go with it.
	flags []string
}

// maxTxAttempts bounds the transactions one chunk makes: each cancelled
// one settles at least one record or write, and a record contended past
// it is InProgress (retried later).
const maxTxAttempts = 4

func (s *Store) claimChunk(ctx context.Context, tx TransactDB, keys []string, chunk []int, now time.Time, hold time.Duration, with BatchWrites, out []Claim) {
	upd := expression.Set(expression.Name("status"), expression.Value(statusClaimed)).
		Set(expression.Name("until"), expression.Value(ms(now.Add(hold)))).
		Set(expression.Name(AttrTTL), expression.Value(s.ttl(now, hold+DefaultKeep)))
	fallback := func(cs []txClaim, err error) {
		s.down.Store(true)
		s.fellBack(ctx, "claim", fmt.Sprintf("%d records", len(cs)), err)
		for _, c := range cs {
			out[c.i] = s.mem.claim(keys[c.i], now, hold)
		}
	}
	// A new claim is a Put of a new item, the same condition for every
	// record: built once.
	pending := make([]txClaim, len(chunk))
	for j, i := range chunk {
		pending[j] = txClaim{i: i}
	}
	ce, err := expression.NewBuilder().WithCondition(claimCondition()).Build()
	if err != nil {
		fallback(pending, err)
		return
	}
	until := &types.AttributeValueMemberN{Value: strconv.FormatInt(ms(now.Add(hold)), 10)}
	ttl := &types.AttributeValueMemberN{Value: strconv.FormatInt(s.ttl(now, hold+DefaultKeep), 10)}
	claimed := &types.AttributeValueMemberS{Value: statusClaimed}
	put := func(k string) types.TransactWriteItem {
		item := key(idemPK(k), single)
		item["status"], item["until"], item[AttrTTL] = claimed, until, ttl
		return types.TransactWriteItem{Put: &types.Put{
			TableName:                           aws.String(s.table),
			Item:                                item,
			ConditionExpression:                 ce.Condition(),
			ExpressionAttributeNames:            ce.Names(),
			ExpressionAttributeValues:           ce.Values(),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}}
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == maxTxAttempts {
			for _, c := range pending {
				out[c.i] = Claim{Outcome: InProgress}
			}
			return
		}
		items := make([]types.TransactWriteItem, 0, len(pending))
		size := 0
		var fresh []int
		for _, c := range pending {
			if c.retake != nil {
				items = append(items, s.txItem(idemPK(keys[c.i]), single, *c.retake))
			} else {
				items = append(items, put(keys[c.i]))
			}
			size += 200 + len(keys[c.i])
			if len(c.flags) == 0 {
				fresh = append(fresh, c.i)
			}
		}
		var ws []txWrite
		if with != nil {
			var err error
			if ws, err = with.writes(fresh); err != nil {
				fallback(pending, err)
				return
			}
			for _, w := range ws {
				items = append(items, w.item)
				size += w.bytes
			}
		}
		if size > maxTxBytes && len(ws) > 0 {
			// Larger than DynamoDB takes in one transaction: the
			// caller's writes are left to it.
			for _, w := range ws {
				with.refused(w.sk, false)
			}
			continue
		}
		s.calls.Add(1)
		_, err := tx.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			for _, c := range pending {
				out[c.i] = Claim{Outcome: Acquired, Flags: c.flags}
			}
			if with != nil {
				with.committed(fresh)
			}
			return
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) || len(tce.CancellationReasons) != len(items) {
			fallback(pending, err)
			return
		}
		var next, taken []txClaim
		var old []map[string]types.AttributeValue
		progress := false
		for j, r := range tce.CancellationReasons {
			code := aws.ToString(r.Code)
			switch {
			case code == "" || code == reasonNone:
				if j < len(pending) {
					next = append(next, pending[j])
				}
			case j >= len(pending):
				with.refused(ws[j-len(pending)].sk, code == reasonCondition)
				progress = true
			case code == reasonCondition:
				// Claimed, done or failed with steps: read it.
				taken = append(taken, pending[j])
				old = append(old, r.Item)
				progress = true
			case code == reasonConflict:
				// Another environment is claiming the same record now.
				out[pending[j].i] = Claim{Outcome: InProgress}
				progress = true
			default:
				// Throttled, or DynamoDB failing for this item.
				fallback(pending, fmt.Errorf("transaction cancelled: %s: %s", code, aws.ToString(r.Message)))
				return
			}
		}
		if !progress {
			// Cancelled with no reason this code acts on: do not loop.
			fallback(pending, err)
			return
		}
		if len(taken) > 0 {
			items, err := s.readClaims(ctx, keys, taken, old)
			if err != nil {
				fallback(taken, err)
			}
			for j, c := range taken {
				if err != nil {
					break
				}
				it := items[j]
				switch {
				case it == nil:
					// Gone meanwhile (expired): claim it afresh.
					next = append(next, txClaim{i: c.i})
				case it.Status == statusDone:
					out[c.i] = Claim{Outcome: AlreadyDone}
				case !retakeable(*it, now):
					out[c.i] = Claim{Outcome: InProgress}
				default:
					retake := retakeCondition(*it)
					e, berr := build(idemPK(keys[c.i]), single, upd, &retake)
					if berr != nil {
						fallback([]txClaim{c}, berr)
						continue
					}
					next = append(next, txClaim{i: c.i, retake: &e, flags: it.Flags})
				}
			}
		}
		pending = next
	}
}

// readClaims returns the idempotency items of the claims taken (nil: no
// item): from the cancellation reasons (old[j], which DynamoDB fills as
// asked, ReturnValuesOnConditionCheckFailure) or, where they are empty
// (kumo v0.33.1 ignores it), with one strongly consistent
// TransactGetItems call (authorised as dynamodb:GetItem per item).
func (s *Store) readClaims(ctx context.Context, keys []string, taken []txClaim, old []map[string]types.AttributeValue) ([]*idemItem, error) {
	out := make([]*idemItem, len(taken))
	var gets []types.TransactGetItem
	var at []int
	for j, c := range taken {
		if len(old[j]) > 0 {
			var it idemItem
			if err := attributevalue.UnmarshalMap(old[j], &it); err != nil {
				return nil, fmt.Errorf("state: decode claim %s: %w", keys[c.i], err)
			}
			out[j] = &it
			continue
		}
		gets = append(gets, types.TransactGetItem{Get: &types.Get{TableName: aws.String(s.table), Key: key(idemPK(keys[c.i]), single)}})
		at = append(at, j)
	}
	if len(gets) == 0 {
		return out, nil
	}
	s.calls.Add(1)
	res, err := s.db.(TransactDB).TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: gets})
	if err != nil {
		return nil, err
	}
	if len(res.Responses) != len(gets) {
		return nil, fmt.Errorf("state: %d items read back for %d claims", len(res.Responses), len(gets))
	}
	for n, r := range res.Responses {
		if len(r.Item) == 0 {
			continue
		}
		var it idemItem
		if err := attributevalue.UnmarshalMap(r.Item, &it); err != nil {
			return nil, fmt.Errorf("state: decode claim %s: %w", keys[taken[at[n]].i], err)
		}
		out[at[n]] = &it
	}
	return out, nil
}

// Finish is how an attempt on a claimed record ended.
type Finish struct {
	Key string
	// Failed gives the claim up so that a retry may retake it at once;
	// otherwise the record is done.
	Failed bool
	// Flags are the steps completed by this attempt and the earlier
	// ones (the Claim's Flags): the retry skips them. Failed only.
	Flags []string
}

// FinishAll records how each attempt on its claimed record ended, with
// one BatchWriteItem call per 25 records: done records are remembered
// (DefaultKeep), failed ones are released with their completed steps.
// Records finished in memory while the table was down are written with
// them.
// Unconditional: the caller holds the claims. It asks the table even when
// the batch claim found it unavailable (its records, if claimed in
// memory, are then finished there too), and ends the invocation: the
// next operations ask the table again.
func (s *Store) FinishAll(ctx context.Context, fs []Finish, now time.Time) {
	if s.db == nil {
		for _, f := range fs {
			s.mem.finish(f)
		}
		return
	}
	defer s.down.Store(false)
	if !s.down.Load() {
		s.drainFails(ctx, now)
		// Records done in memory while the table was down go with these,
		// unless fs finishes them anew (a record marked done, then failed
		// because its counts were lost): one write per key, the latest.
		mine := make(map[string]bool, len(fs))
		for _, f := range fs {
			mine[f.Key] = true
		}
		for _, k := range s.mem.takePendingDones() {
			if !mine[k] {
				fs = append(fs, Finish{Key: k})
			}
		}
	}
	ttl := strconv.FormatInt(s.ttl(now, DefaultKeep), 10)
	var down error // a call failed: the rest go to memory without asking
	for len(fs) > 0 {
		chunk := fs[:min(25, len(fs))]
		fs = fs[len(chunk):]
		err := down
		if err == nil {
			reqs := make([]types.WriteRequest, 0, len(chunk))
			for _, f := range chunk {
				reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: finishItem(f, ttl)}})
			}
			for attempt := 0; attempt < 2 && len(reqs) > 0; attempt++ {
				s.calls.Add(1)
				var res *dynamodb.BatchWriteItemOutput
				if res, err = s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.table: reqs}}); err != nil {
					down = err
					break
				}
				reqs = res.UnprocessedItems[s.table]
			}
			if err == nil && len(reqs) == 0 {
				for _, f := range chunk {
					s.mem.forget(f.Key)
				}
				continue
			}
			if err == nil {
				err = fmt.Errorf("%d items unprocessed", len(reqs))
			}
		}
		s.fellBack(ctx, "finish", fmt.Sprintf("%d records", len(chunk)), err)
		for _, f := range chunk {
			if f.Failed {
				s.mem.pendingFail(f.Key)
			} else {
				s.mem.pendingDone(f.Key)
			}
			s.mem.finish(f)
		}
	}
}

// finishItem is the idempotency item of a finished attempt (idemItem's
// attributes, built directly: one per record of every invocation).
func finishItem(f Finish, ttl string) map[string]types.AttributeValue {
	it := key(idemPK(f.Key), single)
	it[AttrTTL] = &types.AttributeValueMemberN{Value: ttl}
	if !f.Failed {
		it["status"] = &types.AttributeValueMemberS{Value: statusDone}
		return it
	}
	it["status"] = &types.AttributeValueMemberS{Value: statusFailed}
	if len(f.Flags) > 0 {
		it["flags"] = &types.AttributeValueMemberSS{Value: slices.Clone(f.Flags)}
	}
	return it
}
