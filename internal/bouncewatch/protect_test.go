package bouncewatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/sesguard/sesguard/internal/alert"
	mx "github.com/sesguard/sesguard/internal/metrics"
)

// fakeSES fakes GetAccount, GetConfigurationSet and
// PutConfigurationSetSendingOptions at our interfaces: kumo has no
// GetAccount nor PutConfigurationSetSendingOptions. Sending flags start
// enabled; a successful put changes them.
type fakeSES struct {
	mu      sync.Mutex
	status  string
	sending bool
	acctErr error
	putErr  []error // one per call, then success
	puts    []string
	enabled map[string]bool
}

func newFakeSES() *fakeSES {
	return &fakeSES{status: EnforcementHealthy, sending: true, enabled: map[string]bool{}}
}

func (f *fakeSES) GetAccount(context.Context, *sesv2.GetAccountInput, ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.acctErr != nil {
		return nil, f.acctErr
	}
	return &sesv2.GetAccountOutput{EnforcementStatus: aws.String(f.status), SendingEnabled: f.sending}, nil
}

func (f *fakeSES) GetConfigurationSet(_ context.Context, in *sesv2.GetConfigurationSetInput, _ ...func(*sesv2.Options)) (*sesv2.GetConfigurationSetOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	en, ok := f.enabled[aws.ToString(in.ConfigurationSetName)]
	if !ok {
		en = true
	}
	return &sesv2.GetConfigurationSetOutput{ConfigurationSetName: in.ConfigurationSetName, SendingOptions: &types.SendingOptions{SendingEnabled: en}}, nil
}

func (f *fakeSES) PutConfigurationSetSendingOptions(_ context.Context, in *sesv2.PutConfigurationSetSendingOptionsInput, _ ...func(*sesv2.Options)) (*sesv2.PutConfigurationSetSendingOptionsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.ConfigurationSetName)
	f.puts = append(f.puts, name)
	if len(f.putErr) > 0 {
		err := f.putErr[0]
		f.putErr = f.putErr[1:]
		if err != nil {
			return nil, err
		}
	}
	f.enabled[name] = in.SendingEnabled
	return &sesv2.PutConfigurationSetSendingOptionsOutput{}, nil
}

func (f *fakeSES) putCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.puts)
}

// protectEnv is a shared world: CloudWatch, SES and the record store, with
// any number of evaluators (execution environments) over it.
type protectEnv struct {
	t       *testing.T
	now     time.Time
	cw      *memCloudWatch
	ses     *fakeSES
	records *MemoryRecords
	mu      sync.Mutex
	sent    []alert.Alert
	mode    AutoPause
}

var (
	marketing     = Scope{mx.ScopeConfigurationSet, "marketing"}
	transactional = Scope{mx.ScopeConfigurationSet, "transactional"}
)

func newProtectEnv(t *testing.T, mode AutoPause) *protectEnv {
	e := &protectEnv{t: t, now: time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC), ses: newFakeSES(), records: NewMemoryRecords(), mode: mode}
	e.cw = newMemCloudWatch(func() time.Time { return e.now.Add(-time.Minute) })
	return e
}

// traffic records sends and hard bounces for a configuration set (and the
// account).
func (e *protectEnv) traffic(s Scope, sends, bounces int) {
	for _, sc := range []Scope{{mx.ScopeAccount, "us-east-1"}, s} {
		dims := []string{string(mx.DimScopeType), sc.Type, string(mx.DimScope), sc.Name}
		e.cw.put(mx.DefaultNamespace, string(mx.Sends), float64(sends), dims...)
		e.cw.put(mx.DefaultNamespace, string(mx.HardBounces), float64(bounces), dims...)
	}
}

func (e *protectEnv) handler(instance string) *Handler {
	cfg := testConfig()
	cfg.Scopes = []Scope{marketing, transactional}
	cfg.AutoPause = e.mode
	sink := alert.SinkFunc(func(_ context.Context, a alert.Alert) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.sent = append(e.sent, a)
		return nil
	})
	h := mustNew(e.t, cfg, Deps{CloudWatch: e.cw, Account: e.ses, ConfigSets: e.ses, Records: e.records, Alerts: sink, Instance: instance, Log: quiet})
	h.now = func() time.Time { return e.now }
	return h
}

func (e *protectEnv) eval(h *Handler) *Report {
	e.t.Helper()
	rep, err := h.Evaluate(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return rep
}

func (e *protectEnv) alerts(kind alert.Kind) []alert.Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []alert.Alert
	for _, a := range e.sent {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// badList: marketing sends 2,000 with 10% hard bounces (lower bound about
// 8.8%), transactional 4,000 with 0.5%.
func (e *protectEnv) badList() {
	e.traffic(marketing, 2000, 200)
	e.traffic(transactional, 4000, 20)
}

func TestAutoPauseOnPausesOnlyTheBadConfigurationSet(t *testing.T) {
	e := newProtectEnv(t, AutoPauseOn)
	e.badList()
	h := e.handler("env-1")
	rep := e.eval(h)
	if len(e.ses.puts) != 1 || e.ses.puts[0] != "marketing" || e.ses.enabled["marketing"] {
		t.Fatalf("pause calls %v, enabled %v; want marketing paused only", e.ses.puts, e.ses.enabled)
	}
	pauses := e.alerts(alert.KindPause)
	if len(pauses) != 1 || pauses[0].Level != alert.LevelPauseRisk || pauses[0].Scope != "configuration-set:marketing" {
		t.Fatalf("pause alerts = %+v", pauses)
	}
	text := alert.RenderText(pauses[0])
	for _, want := range []string{"sesguard paused sending through configuration set marketing in us-east-1",
		"sesguard resume --configuration-set marketing --region us-east-1", "2,000 sends, 200 hard bounces", "Decided by: sesguard-bouncewatch env-1"} {
		if !strings.Contains(text, want) {
			t.Errorf("pause alert lacks %q:\n%s", want, text)
		}
	}
	if len(rep.Pauses) != 1 || rep.Pauses[0].Outcome != "paused" {
		t.Fatalf("report pauses = %+v", rep.Pauses)
	}
	rec, _ := e.records.Get(context.Background(), pauseKey("us-east-1", "marketing"))
	if !strings.Contains(rec.Value, `"outcome":"paused"`) || !strings.Contains(rec.Value, `"announced":true`) || !strings.Contains(rec.Value, `"sends":2000`) {
		t.Fatalf("pause record = %s", rec.Value)
	}
	// The next run: the set is disabled (by us): no second pause, and the
	// watch does not announce our own pause again.
	e.now = e.now.Add(5 * time.Minute)
	e.eval(e.handler("env-2"))
	if len(e.ses.puts) != 1 || len(e.alerts(alert.KindPause)) != 1 || len(e.alerts(alert.KindEnforcement)) != 0 {
		t.Fatalf("second run: puts %v, alerts %+v", e.ses.puts, e.sent)
	}
}

func TestAutoPauseDryRunAndOff(t *testing.T) {
	e := newProtectEnv(t, AutoPauseDryRun)
	e.badList()
	rep := e.eval(e.handler(""))
	p := e.alerts(alert.KindPause)
	if len(e.ses.puts) != 0 || len(p) != 1 || !strings.Contains(p[0].Title, "would pause sending through configuration set marketing") {
		t.Fatalf("dry-run: puts %v, alerts %+v", e.ses.puts, p)
	}
	if len(rep.Pauses) != 1 || rep.Pauses[0].Outcome != "would-pause" {
		t.Fatalf("dry-run pauses = %+v", rep.Pauses)
	}
	e = newProtectEnv(t, AutoPauseOff)
	e.badList()
	rep = e.eval(e.handler(""))
	if len(e.ses.puts) != 0 || len(e.alerts(alert.KindPause)) != 0 || len(rep.Pauses) != 0 {
		t.Fatalf("off: puts %v, pauses %+v", e.ses.puts, rep.Pauses)
	}
}

// TestAutoPauseSampleGuard: a high rate from too few sends, or whose lower
// bound does not clear the threshold, pauses nothing.
func TestAutoPauseSampleGuard(t *testing.T) {
	for name, tc := range map[string][2]int{
		"below MinSends (20% of 400)":         {400, 80},
		"lower bound below 5% (5.5% of 1000)": {1000, 55},
	} {
		e := newProtectEnv(t, AutoPauseOn)
		e.traffic(marketing, tc[0], tc[1])
		e.traffic(transactional, 4000, 0)
		rep := e.eval(e.handler(""))
		if len(e.ses.puts) != 0 || len(e.alerts(alert.KindPause)) != 0 || len(rep.Pauses) != 0 {
			t.Errorf("%s: puts %v, pauses %+v", name, e.ses.puts, rep.Pauses)
		}
	}
}

func TestAutoPauseSESAlreadyActed(t *testing.T) {
	e := newProtectEnv(t, AutoPauseOn)
	e.ses.status = EnforcementProbation
	e.badList()
	rep := e.eval(e.handler(""))
	if len(e.ses.puts) != 0 {
		t.Fatalf("paused although SES had acted: %v", e.ses.puts)
	}
	p := e.alerts(alert.KindPause)
	if len(p) != 1 || !strings.Contains(p[0].Title, "SES has already acted") || rep.Pauses[0].Outcome != "ses-acted" {
		t.Fatalf("pause alerts = %+v", p)
	}
	if en := e.alerts(alert.KindEnforcement); len(en) != 1 || !strings.Contains(en[0].Title, "HEALTHY → PROBATION") {
		t.Fatalf("enforcement alerts = %+v", en)
	}
}

func TestAutoPauseWithoutGetAccount(t *testing.T) {
	e := newProtectEnv(t, AutoPauseOn)
	e.ses.acctErr = errors.New("AccessDeniedException: not authorized to perform ses:GetAccount")
	e.badList()
	e.eval(e.handler(""))
	p := e.alerts(alert.KindPause)
	if len(e.ses.puts) != 0 || len(p) != 1 || p[0].Level != alert.LevelWarning || !strings.Contains(p[0].Title, "could not be read") {
		t.Fatalf("puts %v, alerts %+v", e.ses.puts, p)
	}
}

// TestAutoPauseCooldown: after a person resumes, a rate still critical
// (the window still holds the bad list) is not paused again within the
// cooldown (the window, 24h), and is after it.
func TestAutoPauseCooldown(t *testing.T) {
	e := newProtectEnv(t, AutoPauseOn)
	e.badList()
	e.eval(e.handler(""))
	e.ses.enabled["marketing"] = true // sesguard resume
	e.now = e.now.Add(time.Hour)
	e.traffic(marketing, 2000, 200)
	rep := e.eval(e.handler(""))
	if len(e.ses.puts) != 1 || len(rep.Pauses) != 1 || !strings.HasPrefix(rep.Pauses[0].Skipped, "cooldown") {
		t.Fatalf("within the cooldown: puts %v, pauses %+v", e.ses.puts, rep.Pauses)
	}
	e.now = e.now.Add(24 * time.Hour)
	e.traffic(marketing, 2000, 200)
	e.traffic(transactional, 4000, 20)
	e.eval(e.handler(""))
	if len(e.ses.puts) != 2 {
		t.Fatalf("after the cooldown: puts %v", e.ses.puts)
	}
}

// barrierRecords holds every Get of a key starting with prefix until n
// of them have arrived, so that n evaluators all read the record before
// any of them writes it: only the compare-and-set can then keep the
// action to one.
type barrierRecords struct {
	RecordStore
	prefix string
	wg     sync.WaitGroup
	seen   atomic.Int64
	n      int64
}

func newBarrierRecords(s RecordStore, prefix string, n int) *barrierRecords {
	b := &barrierRecords{RecordStore: s, prefix: prefix, n: int64(n)}
	b.wg.Add(n)
	return b
}

func (b *barrierRecords) Get(ctx context.Context, key string) (Record, error) {
	r, err := b.RecordStore.Get(ctx, key)
	if strings.HasPrefix(key, b.prefix) && b.seen.Add(1) <= b.n {
		b.wg.Done()
		b.wg.Wait()
	}
	return r, err
}

// TestConcurrentEvaluators: eight environments evaluate the same window
// at once, all reading the records before any writes; exactly one pauses
// and announces, and SES's status change is announced once.
func TestConcurrentEvaluators(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		kind   alert.Kind
		setup  func(*protectEnv)
	}{
		{"pause/us-east-1/marketing", alert.KindPause, func(e *protectEnv) {}},
		{"enforcement/", alert.KindEnforcement, func(e *protectEnv) { e.ses.status = EnforcementProbation }},
	} {
		const n = 8
		e := newProtectEnv(t, AutoPauseOn)
		tc.setup(e)
		e.badList()
		shared := e.records
		var hs []*Handler
		for i := range n {
			h := e.handler("env-" + string(rune('a'+i)))
			hs = append(hs, h)
		}
		barrier := newBarrierRecords(shared, tc.prefix, n)
		for _, h := range hs {
			h.records = barrier
		}
		var wg sync.WaitGroup
		for _, h := range hs {
			wg.Go(func() {
				if _, err := h.Evaluate(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := len(e.alerts(tc.kind)); got != 1 {
			t.Errorf("%s: %d %s alerts, want 1", tc.prefix, got, tc.kind)
		}
		if tc.kind == alert.KindPause && e.ses.putCount() != 1 {
			t.Errorf("%d pause calls, want 1", e.ses.putCount())
		}
	}
}

func TestAutoPauseCallFails(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform ses:PutConfigurationSetSendingOptions"}

	// Throttled: nothing announced, the claim released; the next run pauses.
	e := newProtectEnv(t, AutoPauseOn)
	e.ses.putErr = []error{throttled}
	e.badList()
	rep := e.eval(e.handler(""))
	if len(e.alerts(alert.KindPause)) != 0 || !strings.Contains(rep.Pauses[0].Skipped, "transiently") {
		t.Fatalf("throttled: alerts %+v, pauses %+v", e.sent, rep.Pauses)
	}
	e.now = e.now.Add(5 * time.Minute)
	e.eval(e.handler(""))
	if len(e.ses.puts) != 2 || e.ses.enabled["marketing"] || len(e.alerts(alert.KindPause)) != 1 {
		t.Fatalf("after the throttle: puts %v, alerts %+v", e.ses.puts, e.alerts(alert.KindPause))
	}

	// Denied: announced once with the fix, not retried within the cooldown.
	e = newProtectEnv(t, AutoPauseOn)
	e.ses.putErr = []error{denied}
	e.badList()
	e.eval(e.handler(""))
	p := e.alerts(alert.KindPause)
	if len(p) != 1 || !strings.Contains(p[0].Title, "could not pause") || !strings.Contains(alert.RenderText(p[0]), "AccessDeniedException") {
		t.Fatalf("denied: alerts %+v", p)
	}
	e.now = e.now.Add(5 * time.Minute)
	e.eval(e.handler(""))
	if len(e.ses.puts) != 1 || len(e.alerts(alert.KindPause)) != 1 {
		t.Fatalf("denied, next run: puts %v, alerts %d", e.ses.puts, len(e.alerts(alert.KindPause)))
	}
}

// TestEnforcementWatchOncePerChange: two environments evaluate every run;
// each change of SES's status, and a configuration set disabled by
// someone else, is announced once.
func TestEnforcementWatchOncePerChange(t *testing.T) {
	e := newProtectEnv(t, AutoPauseOff)
	e.traffic(transactional, 4000, 20)
	a, b := e.handler("a"), e.handler("b")
	steps := []func(){
		func() {},
		func() { e.ses.status = EnforcementProbation },
		func() {},
		func() { e.ses.status, e.ses.sending = EnforcementShutdown, false },
		func() { e.ses.enabled["transactional"] = false },
		func() { e.ses.status, e.ses.sending = EnforcementHealthy, true },
	}
	for _, step := range steps {
		step()
		e.eval(a)
		e.eval(b)
		e.now = e.now.Add(5 * time.Minute)
	}
	var titles []string
	for _, al := range e.alerts(alert.KindEnforcement) {
		titles = append(titles, string(al.Level)+": "+al.Title)
	}
	want := []string{
		"critical: SES account status in us-east-1: HEALTHY → PROBATION",
		"pause-risk: SES account sending in us-east-1 is now disabled (status SHUTDOWN)",
		"critical: Sending through configuration set transactional in us-east-1 is disabled",
		"ok: SES account sending in us-east-1 is now enabled (status HEALTHY)",
	}
	if strings.Join(titles, "\n") != strings.Join(want, "\n") {
		t.Fatalf("enforcement alerts:\n%s\nwant:\n%s", strings.Join(titles, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadConfigAutoPause(t *testing.T) {
	for v, want := range map[string]AutoPause{"": "", "off": AutoPauseOff, "dry-run": AutoPauseDryRun, "on": AutoPauseOn} {
		env := map[string]string{EnvRegion: "us-east-1", EnvAutoPause: v}
		c, err := LoadConfig(func(k string) string { return env[k] })
		if err != nil || c.AutoPause != want {
			t.Errorf("%q: %v %v", v, c.AutoPause, err)
		}
	}
	env := map[string]string{EnvRegion: "us-east-1", EnvAutoPause: "yes"}
	if _, err := LoadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), EnvAutoPause) {
		t.Errorf("yes: %v", err)
	}
}

// TestProtectAlertsGolden renders every auto-pause outcome and the
// enforcement alerts, as people will read them.
func TestProtectAlertsGolden(t *testing.T) {
	var golden strings.Builder
	for _, tc := range []struct {
		name  string
		mode  AutoPause
		setup func(*protectEnv)
	}{
		{"paused", AutoPauseOn, func(*protectEnv) {}},
		{"would pause", AutoPauseDryRun, func(*protectEnv) {}},
		{"SES already acted", AutoPauseOn, func(e *protectEnv) { e.ses.status = EnforcementProbation }},
		{"pause refused", AutoPauseOn, func(e *protectEnv) {
			e.ses.putErr = []error{&smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform ses:PutConfigurationSetSendingOptions"}}
		}},
		{"GetAccount unavailable", AutoPauseOn, func(e *protectEnv) {
			e.ses.acctErr = errors.New("operation error SESv2: GetAccount, AccessDeniedException")
		}},
		{"disabled by someone else", AutoPauseOff, func(e *protectEnv) { e.ses.enabled["transactional"] = false }},
	} {
		e := newProtectEnv(t, tc.mode)
		tc.setup(e)
		e.badList()
		e.eval(e.handler("2026/01/05/[$LATEST]0123abcd"))
		for _, a := range e.sent {
			if a.Kind != alert.KindPause && a.Kind != alert.KindEnforcement {
				continue
			}
			fmt.Fprintf(&golden, "=== %s\nSubject: %s\n\n%s\n", tc.name, a.Subject(), alert.RenderText(a))
		}
	}
	checkGolden(t, "protect-alerts.golden", golden.String())
}
