package state_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/sivchari/kumo"

	"github.com/sesguard/sesguard/internal/state"
	"github.com/sesguard/sesguard/internal/testkit"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// checkedDB passes calls to kumo's DynamoDB and fails the test when a
// request's expression attribute names include one that is a prefix of
// another (kumo substitutes those wrongly). Fail, when set, makes a call
// fail as a throttled DynamoDB would.
type checkedDB struct {
	t    testing.TB
	db   *dynamodb.Client
	fail atomic.Bool
}

func (c *checkedDB) check(names map[string]string) {
	for a := range names {
		for b := range names {
			if a != b && strings.HasPrefix(b, a) {
				c.t.Errorf("expression names %q and %q: one is a prefix of the other (kumo substitutes them wrongly)", a, b)
			}
		}
	}
}

var errThrottled = &types.ProvisionedThroughputExceededException{Message: aws.String("Rate of requests exceeds the allowed throughput")}

func (c *checkedDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if c.fail.Load() {
		return nil, errThrottled
	}
	return c.db.GetItem(ctx, in, o...)
}

func (c *checkedDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if c.fail.Load() {
		return nil, errThrottled
	}
	c.check(in.ExpressionAttributeNames)
	return c.db.PutItem(ctx, in, o...)
}

func (c *checkedDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if c.fail.Load() {
		return nil, errThrottled
	}
	c.check(in.ExpressionAttributeNames)
	return c.db.UpdateItem(ctx, in, o...)
}

func (c *checkedDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if c.fail.Load() {
		return nil, errThrottled
	}
	return c.db.BatchWriteItem(ctx, in, o...)
}

func (c *checkedDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if c.fail.Load() {
		return nil, errThrottled
	}
	c.check(in.ExpressionAttributeNames)
	return c.db.Query(ctx, in, o...)
}

// table starts kumo, creates a state table and returns its DB.
func table(t testing.TB) (*checkedDB, string) {
	t.Helper()
	srv := kumo.NewServer()
	t.Cleanup(srv.Close)
	cfg := testkit.ConfigFor(srv.URL)
	db := dynamodb.NewFromConfig(cfg)
	name := testkit.Unique("sesguard-state")
	if err := state.CreateTable(context.Background(), db, name); err != nil {
		t.Fatal(err)
	}
	return &checkedDB{t: t, db: db}, name
}

// environments returns n Stores sharing one table, as n Lambda execution
// environments do.
func environments(t testing.TB, db state.DB, name string, n int) []*state.Store {
	out := make([]*state.Store, n)
	for i := range out {
		s, err := state.New(state.Options{DB: db, Table: name, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = s
	}
	return out
}

// parallel runs f(i) for i in [0,n) concurrently and waits.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); f(i) }()
	}
	wg.Wait()
}

func TestClaimOnceAcrossEnvironments(t *testing.T) {
	db, name := table(t)
	envs := environments(t, db, name, 50)
	ctx := context.Background()
	outcomes := make([]state.Outcome, len(envs))
	parallel(len(envs), func(i int) {
		c, err := envs[i].Claim(ctx, "feedback-1/Bounce/a@example.com", t0, 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		outcomes[i] = c.Outcome
	})
	acquired := 0
	for i, o := range outcomes {
		switch o {
		case state.Acquired:
			acquired++
		case state.InProgress:
		default:
			t.Errorf("environment %d: %v, want acquired or in progress", i, o)
		}
	}
	if acquired != 1 {
		t.Fatalf("%d environments acquired the record, want exactly 1", acquired)
	}
	envs[0].DoneAll(ctx, []string{"feedback-1/Bounce/a@example.com", "other"}, t0.Add(time.Second))
	for i, s := range envs[:5] {
		c, _ := s.Claim(ctx, "feedback-1/Bounce/a@example.com", t0.Add(2*time.Second), 30*time.Second)
		if c.Outcome != state.AlreadyDone {
			t.Errorf("environment %d after Done: %v, want already done", i, c.Outcome)
		}
	}
	for _, s := range envs {
		if n := s.Fallbacks(); n != 0 {
			t.Errorf("%d fallbacks with a healthy table", n)
		}
	}
}

func TestClaimOfDeadHolderRetakenAfterDeadline(t *testing.T) {
	db, name := table(t)
	envs := environments(t, db, name, 2)
	ctx := context.Background()
	const k = "sns-message-7"
	if c, _ := envs[0].Claim(ctx, k, t0, 30*time.Second); c.Outcome != state.Acquired {
		t.Fatalf("first claim: %v", c.Outcome)
	}
	// The holder dies (never calls Done or Fail).
	if c, _ := envs[1].Claim(ctx, k, t0.Add(29*time.Second), 30*time.Second); c.Outcome != state.InProgress {
		t.Fatalf("before the deadline: %v, want in progress", c.Outcome)
	}
	if c, _ := envs[1].Claim(ctx, k, t0.Add(30*time.Second), 30*time.Second); c.Outcome != state.Acquired {
		t.Fatalf("at the deadline: %v, want acquired", c.Outcome)
	}
}

func TestFailKeepsCompletedStepsForTheRetry(t *testing.T) {
	db, name := table(t)
	envs := environments(t, db, name, 2)
	ctx := context.Background()
	const k = "sns-message-8"
	envs[0].Claim(ctx, k, t0, time.Minute)
	envs[0].Fail(ctx, k, t0, "counted")
	c, _ := envs[1].Claim(ctx, k, t0.Add(time.Second), time.Minute)
	if c.Outcome != state.Acquired || !c.Has("counted") || c.Has("alerted") {
		t.Fatalf("retry claim = %+v, want acquired with counted only", c)
	}
	envs[1].Fail(ctx, k, t0.Add(time.Second), "alerted")
	c, _ = envs[0].Claim(ctx, k, t0.Add(2*time.Second), time.Minute)
	if !c.Has("counted") || !c.Has("alerted") {
		t.Fatalf("second retry flags = %v, want counted and alerted", c.Flags)
	}
}

// storm offers occurrences of keys from n environments over ticks
// invocations each (every environment one invocation per tick, all
// concurrently, per-invocation pre-aggregated), then has every environment
// flush all at once, and returns the first announcements, the summed counts
// announced per key, and the occurrences offered per key.
func TestStormWindowsAcrossEnvironments(t *testing.T) {
	for _, n := range []int{1, 10, 50} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			db, name := table(t)
			envs := environments(t, db, name, n)
			ctx := context.Background()
			keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10"}
			const window = 15 * time.Minute
			var mu sync.Mutex
			firsts := map[string]int{}
			announced := map[string]int{}
			offered := map[string]int{}
			for tick := range 4 {
				now := t0.Add(time.Duration(tick) * time.Minute)
				parallel(n, func(i int) {
					for j, k := range keys {
						occ := 1 + (i+j+tick)%3
						op := envs[i].Offer(ctx, state.Offer{Key: k, N: occ, Latest: []byte(k), Now: now, Window: window})
						mu.Lock()
						offered[k] += occ
						if op != nil {
							firsts[k]++
							announced[k] += occ + op.Carried
						}
						mu.Unlock()
					}
				})
			}
			// Flush at once from every environment: each count taken once.
			end := t0.Add(time.Hour)
			parallel(n, func(i int) {
				for _, sm := range envs[i].Flush(ctx, end, window, false) {
					mu.Lock()
					announced[sm.Key] += sm.Count
					if string(sm.Latest) != sm.Key {
						t.Errorf("summary of %s carries latest %q", sm.Key, sm.Latest)
					}
					mu.Unlock()
				}
			})
			calls := 0
			for _, s := range envs {
				calls += s.Calls()
				if f := s.Fallbacks(); f != 0 {
					t.Errorf("%d fallbacks", f)
				}
			}
			for _, k := range keys {
				if firsts[k] != 1 {
					t.Errorf("key %s: %d first announcements, want 1", k, firsts[k])
				}
				if announced[k] != offered[k] {
					t.Errorf("key %s: announced %d occurrences in all, offered %d", k, announced[k], offered[k])
				}
			}
			t.Logf("environments %d: %d invocations x %d keys, %d DynamoDB calls (offers and flushes)", n, 4*n, len(keys), calls)
		})
	}
}

func TestWindowNextOccurrenceCarriesTheCount(t *testing.T) {
	db, name := table(t)
	envs := environments(t, db, name, 2)
	ctx := context.Background()
	const w = 15 * time.Minute
	if op := envs[0].Offer(ctx, state.Offer{Key: "k", N: 3, Now: t0, Window: w}); op == nil || op.Carried != 0 {
		t.Fatalf("first offer: %+v, want opened carrying 0", op)
	}
	t1 := t0.Add(time.Minute)
	if op := envs[1].Offer(ctx, state.Offer{Key: "k", N: 4, Now: t1, Window: w}); op != nil {
		t.Fatalf("inside the window: %+v, want counted", op)
	}
	if op := envs[0].Offer(ctx, state.Offer{Key: "k", N: 2, Now: t1.Add(time.Minute), Window: w}); op != nil {
		t.Fatalf("inside the window, known open: %+v, want counted", op)
	}
	op := envs[1].Offer(ctx, state.Offer{Key: "k", N: 1, Now: t0.Add(w), Window: w})
	if op == nil || op.Carried != 6 || !op.Since.Equal(t1) {
		t.Fatalf("after the window: %+v, want opened carrying 6 since %v", op, t1)
	}
	// Its announcement fails: the window closes again and keeps the 6.
	envs[1].Reopen(ctx, "k", op, t0.Add(w))
	if got := envs[0].Flush(ctx, t0.Add(w+time.Second), w, false); len(got) != 1 || got[0].Count != 6 {
		t.Fatalf("flush after reopen = %+v, want one summary of 6", got)
	}
}

func TestFlushGiveBack(t *testing.T) {
	db, name := table(t)
	envs := environments(t, db, name, 2)
	ctx := context.Background()
	const w = time.Minute
	envs[0].Offer(ctx, state.Offer{Key: "k", N: 1, Now: t0, Window: w})
	envs[1].Offer(ctx, state.Offer{Key: "k", N: 4, Now: t0, Window: w})
	got := envs[0].Flush(ctx, t0.Add(2*w), w, false)
	if len(got) != 1 || got[0].Count != 4 {
		t.Fatalf("flush = %+v, want 4 held", got)
	}
	envs[0].GiveBack(ctx, got[0]) // SNS was down
	if again := envs[1].Flush(ctx, t0.Add(3*w), w, false); len(again) != 1 || again[0].Count != 4 || !again[0].Since.Equal(t0) {
		t.Fatalf("flush after give back = %+v, want 4 since %v", again, t0)
	}
	if none := envs[0].Flush(ctx, t0.Add(4*w), w, false); len(none) != 0 {
		t.Fatalf("third flush = %+v, want nothing", none)
	}
}

func TestLevelAnnouncedOnceAndFailedSinkRetriedAlone(t *testing.T) {
	db, name := table(t)
	envs := environments(t, db, name, 20)
	ctx := context.Background()
	var claims atomic.Int32
	var claim *state.LevelClaim
	var mu sync.Mutex
	parallel(len(envs), func(i int) {
		if c := envs[i].BeginLevel(ctx, "bounce/account/us-east-1", "critical", t0, time.Minute); c != nil {
			claims.Add(1)
			mu.Lock()
			claim = c
			mu.Unlock()
		}
	})
	if claims.Load() != 1 {
		t.Fatalf("%d environments claimed the announcement, want 1", claims.Load())
	}
	// SNS accepted, Slack answered 500.
	envs[0].FinishLevel(ctx, claim, []string{"sns"}, 2)
	if st := envs[1].Level(ctx, "bounce/account/us-east-1"); st.Announced != "critical" || st.Pending != "critical" {
		t.Fatalf("after a partial announcement: %+v, want announced and pending critical", st)
	}
	c := envs[1].BeginLevel(ctx, "bounce/account/us-east-1", "critical", t0.Add(5*time.Minute), time.Minute)
	if c == nil || !slices.Equal(c.Skip, []string{"sns"}) {
		t.Fatalf("retry claim = %+v, want one skipping sns", c)
	}
	envs[1].FinishLevel(ctx, c, []string{"slack"}, 2)
	if c := envs[2].BeginLevel(ctx, "bounce/account/us-east-1", "critical", t0.Add(10*time.Minute), time.Minute); c != nil {
		t.Fatalf("after every sink accepted: claim %+v, want none", c)
	}
	// No sink accepts the next level: not announced, retried whole.
	c = envs[3].BeginLevel(ctx, "bounce/account/us-east-1", "ok", t0.Add(15*time.Minute), time.Minute)
	envs[3].FinishLevel(ctx, c, nil, 2)
	if st := envs[4].Level(ctx, "bounce/account/us-east-1"); st.Announced != "critical" || st.Pending != "ok" {
		t.Fatalf("after a failed announcement: %+v, want announced critical, pending ok", st)
	}
	if c := envs[4].BeginLevel(ctx, "bounce/account/us-east-1", "ok", t0.Add(20*time.Minute), time.Minute); c == nil || len(c.Skip) != 0 {
		t.Fatalf("retry of a failed announcement = %+v, want a claim sending to all", c)
	}
}

func TestLevelLeaseHeldBlocksOthers(t *testing.T) {
	db, name := table(t)
	envs := environments(t, db, name, 2)
	ctx := context.Background()
	if c := envs[0].BeginLevel(ctx, "k", "warning", t0, time.Minute); c == nil {
		t.Fatal("no claim")
	}
	if c := envs[1].BeginLevel(ctx, "k", "warning", t0.Add(30*time.Second), time.Minute); c != nil {
		t.Fatalf("claim during another's lease: %+v", c)
	}
	if c := envs[1].BeginLevel(ctx, "k", "warning", t0.Add(61*time.Second), time.Minute); c == nil {
		t.Fatal("no claim after the holder's lease ran out")
	}
}

func TestFactsSharedWithExpiry(t *testing.T) {
	db, name := table(t)
	envs := environments(t, db, name, 2)
	ctx := context.Background()
	envs[0].PutFact(ctx, "account/us-east-1", []byte(`{"productionAccess":true}`), t0, 5*time.Minute)
	if v, ok := envs[1].Fact(ctx, "account/us-east-1", t0.Add(4*time.Minute)); !ok || string(v) != `{"productionAccess":true}` {
		t.Fatalf("fact from another environment = %q, %v", v, ok)
	}
	if _, ok := envs[1].Fact(ctx, "account/us-east-1", t0.Add(5*time.Minute)); ok {
		t.Fatal("expired fact served to the first to ask (it refreshes)")
	}
	if v, ok := envs[0].Fact(ctx, "account/us-east-1", t0.Add(5*time.Minute+time.Second)); !ok || string(v) != `{"productionAccess":true}` {
		t.Fatalf("while another environment refreshes: %q %v, want the stale value", v, ok)
	}
	if _, ok := envs[0].Fact(ctx, "account/us-east-1", t0.Add(5*time.Minute+state.RefreshLease)); ok {
		t.Fatal("the refresh lease of a dead refresher never ran out")
	}
	if _, ok := envs[1].Fact(ctx, "account/eu-west-1", t0); ok {
		t.Fatal("missing fact served")
	}
}

// TestDegradesToMemoryWhenThrottled: with DynamoDB throttling every call,
// each environment keeps today's in-memory behaviour and counts the
// fallbacks; when the table is back, the table decides again.
func TestDegradesToMemoryWhenThrottled(t *testing.T) {
	db, name := table(t)
	envs := environments(t, db, name, 2)
	ctx := context.Background()
	db.fail.Store(true)
	for i, s := range envs {
		if c, err := s.Claim(ctx, "r1", t0, time.Minute); err != nil || c.Outcome != state.Acquired {
			t.Fatalf("environment %d claim while throttled: %v %v", i, c.Outcome, err)
		}
		s.Done(ctx, "r1", t0)
		if c, _ := s.Claim(ctx, "r1", t0, time.Minute); c.Outcome != state.AlreadyDone {
			t.Fatalf("environment %d: its own memory forgot r1: %v", i, c.Outcome)
		}
		if op := s.Offer(ctx, state.Offer{Key: "k", N: 3, Now: t0, Window: time.Minute}); op == nil {
			t.Fatalf("environment %d: first offer while throttled not announced", i)
		}
		if op := s.Offer(ctx, state.Offer{Key: "k", N: 2, Now: t0, Window: time.Minute}); op != nil {
			t.Fatalf("environment %d: second offer while throttled announced", i)
		}
		if got := s.Flush(ctx, t0.Add(time.Hour), time.Minute, false); len(got) != 1 || got[0].Count != 2 {
			t.Fatalf("environment %d: flush from memory = %+v, want 2 held", i, got)
		}
		if f := s.Fallbacks(); f != 5 {
			// The second claim is answered from memory without asking:
			// this environment finished r1 there.
			t.Errorf("environment %d: %d fallbacks counted, want 5 (claim, done, 2 offers, flush)", i, f)
		}
	}
	db.fail.Store(false)
	if c, _ := envs[0].Claim(ctx, "r2", t0, time.Minute); c.Outcome != state.Acquired {
		t.Fatal("claim after recovery")
	}
	if c, _ := envs[1].Claim(ctx, "r2", t0, time.Minute); c.Outcome != state.InProgress {
		t.Fatalf("second environment after recovery: %v, want in progress (the table decides again)", c.Outcome)
	}
	if f := envs[0].Fallbacks() + envs[1].Fallbacks(); f != 0 {
		t.Errorf("%d fallbacks after recovery", f)
	}
}

func TestSwapOnceAcrossEnvironments(t *testing.T) {
	db, name := table(t)
	envs := environments(t, db, name, 20)
	ctx := context.Background()
	var won atomic.Int32
	// All read version 0 (nothing stored) before anyone writes.
	parallel(len(envs), func(i int) {
		if _, _, ok := envs[i].Swap(ctx, "enforcement/us-east-1", 0, fmt.Sprint("PROBATION by ", i)); ok {
			won.Add(1)
		}
	})
	if won.Load() != 1 {
		t.Fatalf("%d environments won the first swap, want 1", won.Load())
	}
	v, ver := envs[0].Value(ctx, "enforcement/us-east-1")
	if ver != 1 || !strings.HasPrefix(v, "PROBATION by ") {
		t.Fatalf("stored %q version %d", v, ver)
	}
	if cur, cv, ok := envs[1].Swap(ctx, "enforcement/us-east-1", 0, "stale"); ok || cv != 1 || cur != v {
		t.Fatalf("swap on a stale version: %q %d %v, want the stored value and false", cur, cv, ok)
	}
}

// TestFailDuringOutageKeepsStepsForTheRetry: an attempt claimed and failed
// while the table was down left its completed steps in memory; the retry,
// claimed in the table, still skips them.
func TestFailDuringOutageKeepsStepsForTheRetry(t *testing.T) {
	db, name := table(t)
	s := environments(t, db, name, 1)[0]
	ctx := context.Background()
	db.fail.Store(true)
	s.Claim(ctx, "r", t0, time.Minute)
	s.Fail(ctx, "r", t0, "alerted")
	db.fail.Store(false)
	if c, _ := s.Claim(ctx, "r", t0.Add(3*time.Minute), time.Minute); c.Outcome != state.Acquired || !c.Has("alerted") {
		t.Fatalf("retry after the outage: %+v, want acquired with alerted", c)
	}
}

// TestFailDuringOutageReachesOtherEnvironments: the failure kept in memory
// during an outage is written to the table with the environment's next
// DoneAll, so a retry landing in another environment skips its steps.
func TestFailDuringOutageReachesOtherEnvironments(t *testing.T) {
	db, name := table(t)
	envs := environments(t, db, name, 2)
	ctx := context.Background()
	db.fail.Store(true)
	envs[0].Claim(ctx, "r", t0, time.Minute)
	envs[0].Fail(ctx, "r", t0, "alerted")
	db.fail.Store(false)
	envs[0].DoneAll(ctx, nil, t0.Add(time.Second))
	if c, _ := envs[1].Claim(ctx, "r", t0.Add(3*time.Minute), time.Minute); c.Outcome != state.Acquired || !c.Has("alerted") {
		t.Fatalf("retry in another environment: %+v, want acquired with alerted", c)
	}
}

// TestFactsReadTogether: Facts reads many cached facts with one call and
// returns only the fresh ones; a table that fails answers from memory
// (counted), and a DB without BatchGetItem leaves every key to Fact.
func TestFactsReadTogether(t *testing.T) {
	ctx := context.Background()
	kdb, name := table(t)
	db := &iamDB{txDB: txDB{kdb}, actions: map[string]bool{}}
	envs := environments(t, db, name, 2)
	envs[0].PutFact(ctx, "a", []byte("A"), t0, time.Minute)
	envs[0].PutFact(ctx, "b", []byte("B"), t0, 5*time.Minute)
	db.used()
	got := envs[1].Facts(ctx, []string{"a", "b", "missing", "b"}, t0.Add(2*time.Minute))
	if len(got) != 1 || string(got["b"]) != "B" {
		t.Errorf("facts at t0+2m = %q, want only b (a expired, missing never cached)", got)
	}
	if used := db.used(); !slices.Equal(used, []string{"dynamodb:BatchGetItem"}) {
		t.Errorf("calls %v, want one BatchGetItem", used)
	}
	if n := envs[1].Calls(); n != 1 {
		t.Errorf("%d table calls, want 1", n)
	}

	// Throttled: memory answers (this environment's own facts), counted.
	envs[1].PutFact(ctx, "c", []byte("C"), t0, time.Minute)
	kdb.fail.Store(true)
	envs[1].PutFact(ctx, "d", []byte("D"), t0, time.Minute) // kept in memory
	envs[1].Fallbacks()                                     // the PutFact's
	got = envs[1].Facts(ctx, []string{"c", "d"}, t0)
	kdb.fail.Store(false)
	if n := envs[1].Fallbacks(); len(got) != 1 || string(got["d"]) != "D" || n != 1 {
		t.Errorf("throttled: facts %q, %d fallbacks; want only d, from memory, and one fallback counted", got, n)
	}

	// Without BatchGetItem (a plain DB): nothing, the caller asks Fact.
	plain := environments(t, kdb, name, 1)[0]
	if got := plain.Facts(ctx, []string{"b"}, t0); len(got) != 0 {
		t.Errorf("a DB without BatchGetItem answered %q", got)
	}
}
