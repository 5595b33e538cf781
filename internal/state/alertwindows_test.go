package state_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/sivchari/kumo"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/state"
	"github.com/sesguard/sesguard/internal/testkit"
)

// sent records what reached a sink, failing while down is set.
type sent struct {
	mu     sync.Mutex
	alerts []alert.Alert
	down   bool
}

func (s *sent) Send(_ context.Context, a alert.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return &alert.FanoutError{Errs: []error{errors.New("sns: 500")}}
	}
	s.alerts = append(s.alerts, a)
	return nil
}

// TestAggregatorsShareWindows: N aggregators (one per environment) over
// one table announce each key's first occurrence once and every other
// occurrence in exactly one summary, with one environment's flush-all
// reaching the counts the others held; a first alert that reached no
// sink is announced by the retry.
func TestAggregatorsShareWindows(t *testing.T) {
	for _, n := range []int{1, 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			db, name := table(t)
			envs := environments(t, db, name, n)
			sink := &sent{}
			now := t0
			var clock sync.Mutex
			aggs := make([]*alert.Aggregator, n)
			for i, s := range envs {
				aggs[i] = alert.NewAggregator(sink, alert.AggregatorOptions{Store: s.AlertWindows(),
					Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now }})
			}
			ctx := context.Background()
			// The very first alert fails (SNS down) and is retried.
			sink.down = true
			if err := aggs[0].Send(ctx, alert.Alert{Rule: "r0", Region: "us-east-1"}); err == nil {
				t.Fatal("no error with SNS down")
			}
			sink.down = false
			if err := aggs[n-1].Send(ctx, alert.Alert{Rule: "r0", Region: "us-east-1"}); err != nil {
				t.Fatal(err)
			}
			offered := map[string]int{"r0": 1}
			var mu sync.Mutex
			for round := range 5 {
				parallel(n, func(i int) {
					for j := range 30 {
						rule := fmt.Sprintf("r%d", (i+j+round)%4)
						if err := aggs[i].Send(ctx, alert.Alert{Rule: rule, Region: "us-east-1"}); err != nil {
							t.Error(err)
						}
						mu.Lock()
						offered[rule]++
						mu.Unlock()
					}
					if err := aggs[i].Flush(ctx); err != nil {
						t.Error(err)
					}
				})
				clock.Lock()
				now = now.Add(time.Minute)
				clock.Unlock()
			}
			if _, err := aggs[0].FlushAll(ctx); err != nil {
				t.Fatal(err)
			}
			firsts, total := map[string]int{}, map[string]int{}
			for _, a := range sink.alerts {
				if a.Since.IsZero() {
					firsts[a.Rule]++
				}
				total[a.Rule] += a.Count
			}
			for rule, want := range offered {
				if firsts[rule] != 1 || total[rule] != want {
					t.Errorf("%s: %d first alerts, %d occurrences announced; want 1 and %d", rule, firsts[rule], total[rule], want)
				}
			}
		})
	}
}

// txRecorder is txDB recording every TransactWriteItems request, and the
// size of its JSON body on the wire (wire).
type txRecorder struct {
	txDB
	mu   sync.Mutex
	ins  []*dynamodb.TransactWriteItemsInput
	wire *wireSizes
}

func (r *txRecorder) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	r.mu.Lock()
	r.ins = append(r.ins, in)
	r.mu.Unlock()
	return r.txDB.TransactWriteItems(ctx, in, o...)
}

// take returns the requests recorded since the last call, with their
// sizes on the wire.
func (r *txRecorder) take() ([]*dynamodb.TransactWriteItemsInput, []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.ins
	r.ins = nil
	return out, r.wire.take()
}

// wireSizes is an HTTP client recording the body size of each
// TransactWriteItems request it sends.
type wireSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (w *wireSizes) Do(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.Header.Get("X-Amz-Target"), ".TransactWriteItems") && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		w.mu.Lock()
		w.sizes = append(w.sizes, len(b))
		w.mu.Unlock()
	}
	return http.DefaultClient.Do(req)
}

func (w *wireSizes) take() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.sizes
	w.sizes = nil
	return out
}

// recordedTable is table with its transactions recorded.
func recordedTable(t *testing.T) (*txRecorder, string) {
	t.Helper()
	srv := kumo.NewServer()
	t.Cleanup(srv.Close)
	wire := &wireSizes{}
	cfg := testkit.ConfigFor(srv.URL)
	cfg.HTTPClient = wire
	db := dynamodb.NewFromConfig(cfg)
	name := testkit.Unique("sesguard-state")
	if err := state.CreateTable(context.Background(), db, name); err != nil {
		t.Fatal(err)
	}
	return &txRecorder{txDB: txDB{&checkedDB{t: t, db: db}}, wire: wire}, name
}

// windowUpdate returns in's update of k's window (nil: none).
func windowUpdate(in *dynamodb.TransactWriteItemsInput, k string) *types.Update {
	for _, it := range in.TransactItems {
		u := it.Update
		if u == nil {
			continue
		}
		pk, _ := u.Key["pk"].(*types.AttributeValueMemberS)
		sk, _ := u.Key["sk"].(*types.AttributeValueMemberS)
		if pk != nil && sk != nil && pk.Value == "win" && sk.Value == k {
			return u
		}
	}
	return nil
}

// carriesBody reports whether u writes an alert body (the window's
// latest, the update's only binary value).
func carriesBody(u *types.Update) bool {
	for _, v := range u.ExpressionAttributeValues {
		if _, ok := v.(*types.AttributeValueMemberB); ok {
			return true
		}
	}
	return false
}

// stormAlert is triage's alert for the bench's storm of send failures
// (about 1.4 KB of JSON), at at.
func stormAlert(at time.Time) alert.Alert {
	const id, region = "noreply@yourapp.com", "eu-west-1"
	conf := 0.27
	return alert.Alert{Kind: alert.KindDiagnosis, Level: alert.LevelCritical, Title: "reject.region-mismatch: " + id + " (" + region + ")",
		Rule: "reject.region-mismatch", Identity: id, Region: region, Scope: "account", Count: 1, Time: at, Source: "sesguard-triage",
		Summary: "If " + id + " is verified in another Region but not in " + region + " (SES identities are per Region) — check with `aws sesv2 get-email-identity --email-identity " + id + " --region " + region + "` here and in the Region you verified it in.",
		Evidence: []string{`text contains "email address is not verified"`,
			"account facts unknown: ranked by base rates; check with `sesguard diagnose --live` or `aws sesv2 get-account --region " + region + "`"},
		Fix: []string{"Send through the Region where the identity is verified (SDK region / SMTP endpoint email-smtp.<verifiedRegion>.amazonaws.com), or verify it in " + region + ": `aws sesv2 create-email-identity --email-identity " + id + " --region " + region + "`",
			"Compare: `aws sesv2 get-email-identity --email-identity " + id + " --region \"<verifiedRegion>\"` and `aws sesv2 get-email-identity --email-identity " + id + " --region " + region + "`"},
		Figures: []alert.Figure{{Name: "confidence", Value: "0.27", Number: &conf}, {Name: "account facts", Value: "unknown"},
			{Name: "alternatives", Value: "reject.sender-unverified (0.23), reject.verification-pending (0.09), reject.identity-case-mismatch (0.05)"}},
	}
}

// stormBatch is one invocation of a storm: 10 records at now, each
// raising a (with its Time set to now).
type stormBatch struct {
	w   *state.AlertWindows
	s   *state.Store
	db  *txRecorder
	seq int
}

// run claims 10 new records raising a at now, counting them into a's
// window with the claims, closes the invocation, and returns its
// transactions and their sizes on the wire.
func (b *stormBatch) run(t *testing.T, a alert.Alert, now time.Time, window time.Duration) ([]*dynamodb.TransactWriteItemsInput, []int) {
	t.Helper()
	ctx := context.Background()
	a.Time = now
	keys := make([]string, 10)
	alerts := make([][]alert.Alert, 10)
	for i := range keys {
		b.seq++
		keys[i] = fmt.Sprintf("sns:m-%d", b.seq)
		alerts[i] = []alert.Alert{a}
	}
	pc := b.w.Precount(alerts, now, window)
	for i, c := range b.s.ClaimBatch(ctx, keys, now, time.Minute, pc) {
		if c.Outcome != state.Acquired || !pc.Counted(i, a) {
			t.Fatalf("record %d: %v, counted %v", i, c.Outcome, pc.Counted(i, a))
		}
	}
	if out, _ := b.w.Close(ctx, now, window, false); len(out) != 0 {
		t.Fatalf("an invocation counting into an open window announced %+v", out)
	}
	return b.db.take()
}

// summaryOf returns the one summary of k in out.
func summaryOf(t *testing.T, out []alert.Alert, k string) alert.Alert {
	t.Helper()
	var found []alert.Alert
	for _, a := range out {
		if a.Key() == k {
			found = append(found, a)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d summaries of the storm's key, want 1: %+v", len(found), out)
	}
	return found[0]
}

// TestPrecountSendsTheBodyOnce: a storm's count carries its alert body
// the first time an environment counts into the window; later counts of
// the same content within the window carry none (the request shrinks to
// its claims), until the content changes. The summary carries the latest
// body, the whole count, and the time of the latest occurrence.
func TestPrecountSendsTheBodyOnce(t *testing.T) {
	ctx := context.Background()
	db, name := recordedTable(t)
	s := environments(t, db, name, 1)[0]
	w := s.AlertWindows()
	const window = 15 * time.Minute
	storm := stormAlert(t0)
	k := storm.Key()
	if out, _ := w.Observe(ctx, storm, t0, window); len(out) != 1 {
		t.Fatal("first occurrence not announced")
	}
	w.Close(ctx, t0, window, false)
	db.take()
	b := &stormBatch{w: w, s: s, db: db}

	changed := storm
	changed.Summary = "Another summary of the same failure."
	steps := []struct {
		a    alert.Alert
		body bool
	}{
		{storm, true},    // this environment's first count into the window
		{storm, false},   // same content: no body
		{changed, true},  // the content changed
		{changed, false}, // the new content is the one written
	}
	var last time.Time
	for i, st := range steps {
		last = t0.Add(time.Duration(i+1) * time.Second)
		ins, wire := b.run(t, st.a, last, window)
		if len(ins) != 1 {
			t.Fatalf("invocation %d: %d transactions, want 1", i, len(ins))
		}
		u := windowUpdate(ins[0], k)
		if u == nil {
			t.Fatalf("invocation %d: no update of the storm's window", i)
		}
		if got := carriesBody(u); got != st.body {
			t.Errorf("invocation %d: window update carries the body: %v, want %v", i, got, st.body)
		}
		t.Logf("invocation %d: a 10-record storm transaction is %d bytes of JSON (body: %v)", i, wire[0], st.body)
	}

	out, _ := w.Close(ctx, last.Add(window), window, false)
	sm := summaryOf(t, out, k)
	if sm.Count != 40 || !sm.Since.Equal(t0.Add(time.Second)) {
		t.Errorf("summary counts %d since %v, want 40 since %v", sm.Count, sm.Since, t0.Add(time.Second))
	}
	if sm.Summary != changed.Summary || sm.Title != storm.Title || len(sm.Fix) != 2 {
		t.Errorf("summary's alert is not the latest body written: %+v", sm)
	}
	if !sm.Time.Equal(last) {
		t.Errorf("summary at %v, want the latest occurrence's time %v", sm.Time, last)
	}
}

// TestPrecountWindowWithoutBody: a window item that lost its body (here
// removed by hand; in AWS, an item deleted and made anew) fails the short
// form's condition; the retried transaction counts the occurrences
// regardless, with the body, exactly once.
func TestPrecountWindowWithoutBody(t *testing.T) {
	ctx := context.Background()
	db, name := recordedTable(t)
	s := environments(t, db, name, 1)[0]
	w := s.AlertWindows()
	const window = 15 * time.Minute
	storm := stormAlert(t0)
	k := storm.Key()
	if out, _ := w.Observe(ctx, storm, t0, window); len(out) != 1 {
		t.Fatal("first occurrence not announced")
	}
	w.Close(ctx, t0, window, false)
	b := &stormBatch{w: w, s: s, db: db}
	b.run(t, storm, t0.Add(time.Second), window)

	_, err := db.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(name),
		Key:                      map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "win"}, "sk": &types.AttributeValueMemberS{Value: k}},
		UpdateExpression:         aws.String("REMOVE #l"),
		ExpressionAttributeNames: map[string]string{"#l": "latest"},
	})
	if err != nil {
		t.Fatal(err)
	}

	last := t0.Add(2 * time.Second)
	ins, _ := b.run(t, storm, last, window)
	if len(ins) != 2 {
		t.Fatalf("%d transactions, want 2 (the short form cancelled, then the count with the body)", len(ins))
	}
	for i, want := range []bool{false, true} {
		if u := windowUpdate(ins[i], k); u == nil || carriesBody(u) != want {
			t.Errorf("transaction %d: window update %v, want one carrying the body: %v", i, u, want)
		}
	}

	out, _ := w.Close(ctx, last.Add(window), window, false)
	sm := summaryOf(t, out, k)
	if sm.Count != 20 {
		t.Errorf("summary counts %d, want the 20 occurrences held, each once", sm.Count)
	}
	if sm.Rule != storm.Rule || sm.Summary != storm.Summary || !sm.Time.Equal(last) {
		t.Errorf("summary %+v, want the storm's alert at %v", sm, last)
	}
	// Nothing else was held back anywhere.
	if rest, _ := w.Close(ctx, last.Add(2*window), window, true); len(rest) != 0 {
		t.Errorf("flush-all after the summary announced %+v", rest)
	}
}
