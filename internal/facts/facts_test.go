package facts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/sesguard/sesguard/internal/testkit"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

func TestIdentityVariants(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"noreply@example.com", []string{"noreply@example.com", "example.com"}},
		{"NoReply@Example.COM", []string{"NoReply@Example.COM", "noreply@example.com", "example.com"}},
		{"bob+news@mail.example.com", []string{"bob+news@mail.example.com", "bob@mail.example.com", "mail.example.com", "example.com"}},
		{"Bob+X@A.B.Example.com", []string{"Bob+X@A.B.Example.com", "Bob@A.B.Example.com", "bob+x@a.b.example.com", "bob@a.b.example.com", "a.b.example.com", "b.example.com"}},
		{"Example.COM", []string{"example.com"}},
		{"mail.example.com.", []string{"mail.example.com", "example.com"}},
		{" <a@example.com> ", []string{"a@example.com", "example.com"}},
		{"+x@example.com", []string{"+x@example.com", "example.com"}},
		{"", nil},
		{"@example.com", nil},
		{"a@", nil},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := IdentityVariants(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("IdentityVariants(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestGatherKumo asks a real SES v2 client against kumo. The sending
// Region's client fakes GetAccount (kumo lacks it); the candidate Region's
// client is bare kumo, so its GetAccount is "not supported".
func TestGatherKumo(t *testing.T) {
	dom := testDomain(t)
	// The failure names Alerts@Sub.<dom>; SES has the lower-case address
	// and the parent domain, not the address as written nor the subdomain.
	createIdentities(t, "alerts@sub."+dom, dom)

	g := NewGatherer(Config{
		Clients: func(region string) API {
			if region == "us-east-1" {
				return testkit.WithAccount{Client: kumoClient(region), Account: sandboxAccount()}
			}
			return kumoClient(region)
		},
		CandidateRegions: []string{"eu-west-1", "US-EAST-1"},
		Logger:           discard(),
	})
	f := g.Gather(t.Context(), "US-East-1", []string{"Alerts@Sub." + dom})

	if f.SendingRegion != "us-east-1" {
		t.Errorf("SendingRegion = %q", f.SendingRegion)
	}
	if got := slices.Sorted(func(yield func(string) bool) {
		for r := range f.Regions {
			if !yield(r) {
				return
			}
		}
	}); !reflect.DeepEqual(got, []string{"eu-west-1", "us-east-1"}) {
		t.Fatalf("Regions = %v", got)
	}
	want := map[string]string{"alerts@sub." + dom: ruleset.StatusSuccess, dom: ruleset.StatusSuccess}
	use1 := f.Regions["us-east-1"]
	if !reflect.DeepEqual(use1.Identities, want) {
		t.Errorf("us-east-1 identities = %v, want %v", use1.Identities, want)
	}
	if use1.ProductionAccess == nil || *use1.ProductionAccess || use1.SendingEnabled == nil || !*use1.SendingEnabled {
		t.Errorf("us-east-1 account = production %v sending %v", use1.ProductionAccess, use1.SendingEnabled)
	}
	if use1.EnforcementStatus != "HEALTHY" || !reflect.DeepEqual(use1.SuppressedReasons, []string{"BOUNCE", "COMPLAINT"}) {
		t.Errorf("us-east-1 enforcement %q suppressed %v", use1.EnforcementStatus, use1.SuppressedReasons)
	}
	if len(use1.Errors) != 0 {
		t.Errorf("us-east-1 errors = %q", use1.Errors)
	}

	euw1 := f.Regions["eu-west-1"]
	if euw1.ProductionAccess != nil || euw1.SendingEnabled != nil || euw1.EnforcementStatus != "" || euw1.SuppressedReasons != nil {
		t.Errorf("eu-west-1 account facts should be unknown: %+v", euw1)
	}
	if !reflect.DeepEqual(euw1.Errors, []string{"GetAccount in eu-west-1: not supported by the endpoint (facts unknown)"}) {
		t.Errorf("eu-west-1 errors = %q", euw1.Errors)
	}
	if !reflect.DeepEqual(euw1.Identities, want) {
		t.Errorf("eu-west-1 identities = %v, want %v", euw1.Identities, want)
	}
}

// TestGatherCaseVariantOnly: SES has only the address as the failure
// wrote it; the lower-case variant and the domain are absent.
func TestGatherCaseVariantOnly(t *testing.T) {
	dom := testDomain(t)
	createIdentities(t, "Sender@"+dom)
	g := NewGatherer(Config{Clients: func(r string) API { return testkit.WithAccount{Client: kumoClient(r), Account: sandboxAccount()} }, CandidateRegions: []string{}})
	f := g.Gather(t.Context(), "us-west-2", []string{"Sender@" + dom})
	if len(f.Regions) != 1 {
		t.Fatalf("want only the sending Region, got %v", f.Regions)
	}
	got := f.Regions["us-west-2"].Identities
	if want := map[string]string{"Sender@" + dom: ruleset.StatusSuccess}; !reflect.DeepEqual(got, want) {
		t.Errorf("identities = %v, want %v", got, want)
	}
}

// TestGatherNothingExists: an empty map (not nil) says "none of these
// identities exists here".
func TestGatherNothingExists(t *testing.T) {
	dom := testDomain(t)
	g := NewGatherer(Config{Clients: func(r string) API { return testkit.WithAccount{Client: kumoClient(r), Account: sandboxAccount()} }, CandidateRegions: []string{}})
	f := g.Gather(t.Context(), "us-east-1", []string{"x@" + dom})
	rf := f.Regions["us-east-1"]
	if rf.Identities == nil || len(rf.Identities) != 0 || len(rf.Errors) != 0 {
		t.Errorf("want empty, non-nil identities and no errors, got %+v", rf)
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"sendingRegion":"us-east-1","regions":{"us-east-1":{"productionAccess":false,"sendingEnabled":true,"enforcementStatus":"HEALTHY","suppressedReasons":["BOUNCE","COMPLAINT"],"identities":{}}}}`; string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
}

// TestBurstCallCount is the acceptance test: a burst of 10,000
// identical failures costs at most one call per (op, identity, Region)
// per TTL. Calls go to kumo through a counter at our interface.
func TestBurstCallCount(t *testing.T) {
	dom := testDomain(t)
	createIdentities(t, dom)
	clk := newClock()
	cnt := newCounter()
	g := NewGatherer(Config{
		Clients: cnt.wrap(func(r string) API { return testkit.WithAccount{Client: kumoClient(r), Account: sandboxAccount()} }),
		Now:     clk.Now,
	})
	// About a thousand failures (the 10,000-failure runs are make
	// bench's), from 200 goroutines at once.
	const failures = 1000
	const workers = 200
	identity := []string{"Ops+Alerts@Mail." + dom}
	regions := len(regionList("ap-southeast-2", DefaultCandidateRegions))
	keys := regions * (1 + len(IdentityVariants(identity[0])))

	burst := func() {
		var wg sync.WaitGroup
		var next atomic.Int64
		for range workers {
			wg.Go(func() {
				for next.Add(1) <= failures {
					f := g.Gather(t.Context(), "ap-southeast-2", identity)
					if st := f.Regions["ap-southeast-2"].Identities[dom]; st != ruleset.StatusSuccess {
						t.Errorf("domain status = %q, want SUCCESS", st)
						return
					}
				}
			})
		}
		wg.Wait()
	}

	burst()
	calls := cnt.snapshot()
	t.Logf("burst 1: %d Gathers, %d Regions x %d look-ups = %d keys, %d AWS calls", failures, regions, keys/regions, keys, cnt.total())
	if len(calls) != keys {
		t.Errorf("distinct look-ups = %d, want %d: %v", len(calls), keys, calls)
	}
	for k, n := range calls {
		if n != 1 {
			t.Errorf("%s: %d calls, want 1", k, n)
		}
	}

	clk.Add(DefaultTTL - time.Second)
	burst()
	if n := cnt.total(); n != keys {
		t.Errorf("within TTL: %d calls in total, want %d", n, keys)
	}

	clk.Add(2 * time.Second)
	burst()
	t.Logf("after TTL: %d AWS calls in total", cnt.total())
	for k, n := range cnt.snapshot() {
		if n != 2 {
			t.Errorf("after TTL %s: %d calls, want 2", k, n)
		}
	}
}

// TestConcurrentLookupsCollapse holds the first call open until every other
// caller has joined it, then checks that they all got its answer.
func TestConcurrentLookupsCollapse(t *testing.T) {
	release := make(chan struct{})
	var accountCalls, identityCalls atomic.Int32
	api := fakeAPI{
		GetAccountFn: func(ctx context.Context) (*sesv2.GetAccountOutput, error) {
			accountCalls.Add(1)
			<-release
			return sandboxAccount(), nil
		},
		GetEmailIdentityFn: func(ctx context.Context, id string) (*sesv2.GetEmailIdentityOutput, error) {
			identityCalls.Add(1)
			<-release
			return &sesv2.GetEmailIdentityOutput{VerificationStatus: types.VerificationStatusPending}, nil
		},
	}
	g := NewGatherer(Config{Clients: func(string) API { return api }, CandidateRegions: []string{}})

	const callers = 500
	results := make([]*ruleset.Facts, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { results[i] = g.Gather(t.Context(), "eu-west-1", []string{"example.com"}) })
	}
	joined := func() int {
		g.cache.mu.Lock()
		defer g.cache.mu.Unlock()
		n := 0
		for _, e := range g.cache.entries {
			n += e.waiters
		}
		return n
	}
	for joined() < 2*(callers-1) {
		if t.Context().Err() != nil {
			t.Fatalf("only %d callers joined", joined())
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()

	if a, i := accountCalls.Load(), identityCalls.Load(); a != 1 || i != 1 {
		t.Errorf("calls: GetAccount %d, GetEmailIdentity %d; want 1 each", a, i)
	}
	for i, f := range results {
		if st := f.Regions["eu-west-1"].Identities["example.com"]; st != ruleset.StatusPending {
			t.Fatalf("caller %d: status %q, want PENDING", i, st)
		}
	}
}

func TestNegativeAndErrorTTL(t *testing.T) {
	clk := newClock()
	var accountCalls, identityCalls atomic.Int32
	throttled := &types.TooManyRequestsException{Message: aws.String("Too many requests.")}
	api := fakeAPI{
		GetAccountFn: func(context.Context) (*sesv2.GetAccountOutput, error) {
			accountCalls.Add(1)
			return nil, throttled
		},
		GetEmailIdentityFn: func(_ context.Context, id string) (*sesv2.GetEmailIdentityOutput, error) {
			identityCalls.Add(1)
			return nil, &types.NotFoundException{Message: aws.String("Email identity " + id + " does not exist.")}
		},
	}
	g := NewGatherer(Config{Clients: func(string) API { return api }, CandidateRegions: []string{}, Now: clk.Now, Logger: discard()})
	gather := func() *ruleset.RegionFacts {
		return g.Gather(t.Context(), "us-east-1", []string{"example.com"}).Regions["us-east-1"]
	}

	rf := gather()
	if rf.ProductionAccess != nil || !hasLine(rf.Errors, "GetAccount in us-east-1: operation error") && !hasLine(rf.Errors, "TooManyRequestsException") {
		t.Errorf("throttled GetAccount should be unknown and reported: %+v", rf)
	}
	if rf.Identities == nil || len(rf.Identities) != 0 {
		t.Errorf("NotFound should leave an empty map: %v", rf.Identities)
	}

	clk.Add(DefaultErrorTTL - time.Second)
	gather()
	if a, i := accountCalls.Load(), identityCalls.Load(); a != 1 || i != 1 {
		t.Errorf("within error TTL: GetAccount %d, GetEmailIdentity %d calls; want 1, 1", a, i)
	}
	clk.Add(2 * time.Second)
	gather()
	if a, i := accountCalls.Load(), identityCalls.Load(); a != 2 || i != 1 {
		t.Errorf("after error TTL: GetAccount %d, GetEmailIdentity %d calls; want 2, 1 (NotFound is cached for the full TTL)", a, i)
	}
	clk.Add(DefaultTTL)
	gather()
	if i := identityCalls.Load(); i != 2 {
		t.Errorf("after TTL: GetEmailIdentity %d calls, want 2", i)
	}
}

func TestBudget(t *testing.T) {
	cnt := newCounter()
	api := fakeAPI{
		GetAccountFn: func(context.Context) (*sesv2.GetAccountOutput, error) { return sandboxAccount(), nil },
		GetEmailIdentityFn: func(context.Context, string) (*sesv2.GetEmailIdentityOutput, error) {
			return &sesv2.GetEmailIdentityOutput{VerificationStatus: types.VerificationStatusSuccess}, nil
		},
	}
	g := NewGatherer(Config{
		Clients:          cnt.wrap(func(string) API { return api }),
		CandidateRegions: []string{"us-west-2"},
		MaxCalls:         3,
	})
	// 2 Regions x (GetAccount + 2 identities) = 6 look-ups, 3 allowed.
	f := g.Gather(t.Context(), "us-east-1", []string{"a@example.com"})
	if n := cnt.total(); n != 3 {
		t.Fatalf("calls = %d, want 3", n)
	}
	use1, usw2 := f.Regions["us-east-1"], f.Regions["us-west-2"]
	if len(use1.Errors) != 0 || len(use1.Identities) != 2 || use1.ProductionAccess == nil {
		t.Errorf("sending Region should be complete: %+v", use1)
	}
	want := []string{
		"GetAccount in us-west-2: skipped: call budget of 3 per look-up exhausted (facts unknown)",
		"GetEmailIdentity a***@example.com in us-west-2: skipped: call budget of 3 per look-up exhausted (facts unknown)",
		"GetEmailIdentity example.com in us-west-2: skipped: call budget of 3 per look-up exhausted (facts unknown)",
	}
	if !reflect.DeepEqual(usw2.Errors, want) {
		t.Errorf("us-west-2 errors =\n%q\nwant\n%q", usw2.Errors, want)
	}
	if usw2.Identities != nil || usw2.ProductionAccess != nil {
		t.Errorf("us-west-2 facts should be unknown: %+v", usw2)
	}

	// The next failure has a fresh budget; the cached answers are free.
	f = g.Gather(t.Context(), "us-east-1", []string{"a@example.com"})
	if n := cnt.total(); n != 6 {
		t.Errorf("calls after second Gather = %d, want 6", n)
	}
	if rf := f.Regions["us-west-2"]; len(rf.Errors) != 0 || len(rf.Identities) != 2 {
		t.Errorf("second Gather should be complete: %+v", rf)
	}
}

func TestErrorsDegradeToUnknown(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User is not authorized to perform ses:GetAccount"}
	g := NewGatherer(Config{
		Clients: func(region string) API {
			return fakeAPI{
				GetAccountFn: func(context.Context) (*sesv2.GetAccountOutput, error) { return nil, denied },
				GetEmailIdentityFn: func(_ context.Context, id string) (*sesv2.GetEmailIdentityOutput, error) {
					if region == "eu-west-1" || id == "example.com" {
						return nil, errors.New("dial tcp: lookup email.eu-west-1.amazonaws.com: no such host")
					}
					return &sesv2.GetEmailIdentityOutput{VerificationStatus: types.VerificationStatusFailed}, nil
				},
			}
		},
		CandidateRegions: []string{"eu-west-1"},
		Logger:           discard(),
	})
	f := g.Gather(t.Context(), "us-east-1", []string{"a@example.com"})
	use1, euw1 := f.Regions["us-east-1"], f.Regions["eu-west-1"]

	// Partly known: the map holds what was learned, Errors the rest.
	if want := map[string]string{"a@example.com": "FAILED"}; !reflect.DeepEqual(use1.Identities, want) {
		t.Errorf("us-east-1 identities = %v, want %v", use1.Identities, want)
	}
	if len(use1.Errors) != 2 || !hasLine(use1.Errors, "GetAccount in us-east-1: access denied: api error AccessDeniedException") ||
		!hasLine(use1.Errors, "GetEmailIdentity example.com in us-east-1: dial tcp") {
		t.Errorf("us-east-1 errors = %q", use1.Errors)
	}
	// Nothing known: nil map, so no rule reads "absent" into it.
	if euw1.Identities != nil || len(euw1.Errors) != 3 {
		t.Errorf("eu-west-1 = %+v", euw1)
	}
}

// TestAddressesMasked: SES names the identity an AccessDenied concerns;
// neither the log nor RegionFacts.Errors may carry the full address.
func TestAddressesMasked(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User: arn:aws:sts::123456789012:assumed-role/triage/fn " +
		"is not authorized to perform: ses:GetEmailIdentity on resource: arn:aws:ses:us-east-1:123456789012:identity/bob.smith+news@example.com"}
	var logs bytes.Buffer
	g := NewGatherer(Config{
		Clients: func(string) API {
			return fakeAPI{
				GetAccountFn: func(context.Context) (*sesv2.GetAccountOutput, error) { return sandboxAccount(), nil },
				GetEmailIdentityFn: func(_ context.Context, id string) (*sesv2.GetEmailIdentityOutput, error) {
					if strings.Contains(id, "@") {
						return nil, fmt.Errorf("operation error SESv2: GetEmailIdentity, https response error StatusCode: 403: %w", denied)
					}
					return &sesv2.GetEmailIdentityOutput{VerificationStatus: types.VerificationStatusSuccess}, nil
				},
			}
		},
		CandidateRegions: []string{},
		Logger:           slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	rf := g.Gather(t.Context(), "us-east-1", []string{"bob.smith+news@example.com"}).Regions["us-east-1"]

	if len(rf.Errors) != 2 {
		t.Fatalf("errors = %q, want one line per address variant", rf.Errors)
	}
	if !hasLine(rf.Errors, "GetEmailIdentity b***@example.com in us-east-1: access denied: operation error") ||
		!hasLine(rf.Errors, "identity/b***@example.com (facts unknown)") {
		t.Errorf("errors = %q, want the identity and the error text masked", rf.Errors)
	}
	if logs.Len() == 0 || !strings.Contains(logs.String(), "AccessDeniedException") || !strings.Contains(logs.String(), "identity/b***@example.com") {
		t.Errorf("log does not report the masked failure:\n%s", logs.String())
	}
	for _, where := range []string{strings.Join(rf.Errors, "\n"), logs.String()} {
		for _, full := range []string{"bob.smith+news@", "bob.smith@"} {
			if strings.Contains(where, full) {
				t.Errorf("full address %q in:\n%s", full, where)
			}
		}
	}
}

func TestMaskAddress(t *testing.T) {
	for in, want := range map[string]string{"jane.doe@example.com": "j***@example.com", "example.com": "example.com", "@x.com": "***@x.com", "": ""} {
		if got := MaskAddress(in); got != want {
			t.Errorf("MaskAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskAddresses(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "",
		"no address here":           "no address here",
		"identity/bob@example.com'": "identity/b***@example.com'",
		"<Jane.Doe+x@mail.example>, j@x.io and example.com": "<J***@mail.example>, j***@x.io and example.com",
		"@example.com": "@example.com",
	} {
		if got := MaskAddresses(in); got != want {
			t.Errorf("MaskAddresses(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCallerCancelledNotCached: a look-up cut short by the caller's own
// context is unknown for that caller and asked again by the next one.
func TestCallerCancelledNotCached(t *testing.T) {
	var calls atomic.Int32
	api := fakeAPI{
		GetAccountFn: func(ctx context.Context) (*sesv2.GetAccountOutput, error) {
			calls.Add(1)
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("operation error SESv2: GetAccount: %w", err)
			}
			return sandboxAccount(), nil
		},
	}
	g := NewGatherer(Config{Clients: func(string) API { return api }, CandidateRegions: []string{}, Concurrency: 1})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rf := g.Gather(ctx, "us-east-1", nil).Regions["us-east-1"]
	if rf.ProductionAccess != nil || len(rf.Errors) != 1 {
		t.Errorf("cancelled: %+v", rf)
	}
	rf = g.Gather(t.Context(), "us-east-1", nil).Regions["us-east-1"]
	if rf.ProductionAccess == nil || len(rf.Errors) != 0 {
		t.Errorf("after cancel, facts should be learned: %+v", rf)
	}
	if rf.Identities != nil {
		t.Errorf("no identities asked: map should be nil (not looked up), got %v", rf.Identities)
	}
}

func TestClassifyUnsupported(t *testing.T) {
	_, err := kumoClient("us-east-1").GetAccount(t.Context(), &sesv2.GetAccountInput{})
	if !errors.Is(classify(err), ErrUnsupported) {
		t.Errorf("kumo GetAccount error %v: not classified as unsupported", err)
	}
	_, err = kumoClient("us-east-1").GetEmailIdentity(t.Context(), &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("nobody@" + testDomain(t))})
	if r := identityResult(nil, err); !r.absent || r.err != nil {
		t.Errorf("kumo NotFound: %+v", r)
	}
	for _, code := range []string{"UnknownOperationException", "NotImplemented"} {
		if !errors.Is(classify(&smithy.GenericAPIError{Code: code}), ErrUnsupported) {
			t.Errorf("%s not classified as unsupported", code)
		}
	}
	if errors.Is(classify(&smithy.GenericAPIError{Code: "AccessDeniedException"}), ErrUnsupported) {
		t.Error("AccessDenied classified as unsupported")
	}
}

func TestLiveCheck(t *testing.T) {
	cnt := newCounter()
	var mu sync.Mutex
	asked := map[string]bool{}
	clients := cnt.wrap(func(region string) API {
		mu.Lock()
		asked[region] = true
		mu.Unlock()
		return fakeAPI{
			GetAccountFn: func(context.Context) (*sesv2.GetAccountOutput, error) {
				return &sesv2.GetAccountOutput{ProductionAccessEnabled: region == "us-east-1", SendingEnabled: true}, nil
			},
			GetEmailIdentityFn: func(_ context.Context, id string) (*sesv2.GetEmailIdentityOutput, error) {
				if region == "eu-west-1" && id == "example.com" {
					return &sesv2.GetEmailIdentityOutput{VerificationStatus: types.VerificationStatusSuccess}, nil
				}
				return nil, &types.NotFoundException{}
			},
		}
	})
	f, rep := LiveCheck(t.Context(), clients, "us-east-1", []string{"a@example.com"})
	if rep.Checked() != len(AllSESRegions) || len(rep.Summary()) != 0 {
		t.Errorf("report: %d checked, summary %q", rep.Checked(), rep.Summary())
	}
	if len(f.Regions) != len(AllSESRegions) {
		t.Errorf("Regions = %d, want %d", len(f.Regions), len(AllSESRegions))
	}
	for _, r := range AllSESRegions {
		rf := f.Regions[r]
		if rf == nil || rf.ProductionAccess == nil || len(rf.Errors) != 0 {
			t.Errorf("%s: %+v", r, rf)
		}
	}
	if !*f.Regions["us-east-1"].ProductionAccess || *f.Regions["us-west-2"].ProductionAccess {
		t.Error("production access per Region mixed up")
	}
	if got := f.Regions["eu-west-1"].Identities; !reflect.DeepEqual(got, map[string]string{"example.com": "SUCCESS"}) {
		t.Errorf("eu-west-1 identities = %v", got)
	}
	if n, want := cnt.total(), 3*len(AllSESRegions); n != want {
		t.Errorf("calls = %d, want %d (no cap)", n, want)
	}
}

func TestNewSESv2Factory(t *testing.T) {
	factory := NewSESv2Factory(aws.Config{Region: "us-east-1"})
	a, b, c := factory("eu-west-1"), factory("eu-west-1"), factory("us-west-2")
	if a != b {
		t.Error("same Region should reuse the client")
	}
	if got := a.(*sesv2.Client).Options().Region; got != "eu-west-1" {
		t.Errorf("client Region = %q", got)
	}
	if got := c.(*sesv2.Client).Options().Region; got != "us-west-2" {
		t.Errorf("client Region = %q", got)
	}
}

func TestIAMActions(t *testing.T) {
	// Each op this package calls must be in IAMActions.
	for _, o := range []op{opGetAccount, opGetEmailIdentity} {
		if !slices.Contains(IAMActions, "ses:"+o.String()) {
			t.Errorf("IAMActions lacks ses:%s", o)
		}
	}
}

func TestCacheSweep(t *testing.T) {
	clk := newClock()
	c := newCache(clk.Now, time.Minute, time.Second)
	for i := range minSweep {
		k := key{op: opGetEmailIdentity, identity: fmt.Sprint(i), region: "r"}
		e, st := c.claim(k, func() bool { return true })
		if st != stateLead {
			t.Fatalf("claim %d: state %d", i, st)
		}
		c.finish(k, e, result{absent: true})
	}
	clk.Add(time.Minute)
	k := key{op: opGetAccount, region: "r"}
	e, _ := c.claim(k, func() bool { return true })
	c.finish(k, e, result{account: &accountFacts{}})
	if n := len(c.entries); n != 1 {
		t.Errorf("entries after sweep = %d, want 1", n)
	}
}
