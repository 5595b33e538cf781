// Package facts learns what Amazon SES knows about the sending account —
// sandbox or production, sending enabled, enforcement status, account-level
// suppression, and the verification status of the identities a failure
// names — so that a diagnosis can be made from facts instead of guesses.
//
// SES is per Region, and so is everything here: identities, sandbox status
// and the suppression list differ between Regions, which is why a failure
// in one Region is often explained by an identity verified in another. A
// Gatherer therefore asks the sending Region and a short list of candidate
// Regions.
//
// Look-ups never fail a record. A call that fails, is not supported by the
// endpoint (an emulator without GetAccount) or is skipped because the call
// budget ran out leaves the field nil ("unknown") and adds a line to
// RegionFacts.Errors, so the diagnosis can say its facts were partial.
//
// Calls are read-only (IAMActions). Results are cached in the warm
// container for a TTL, concurrent identical look-ups are collapsed into one,
// and each Gather is capped at a number of AWS calls, so a burst of
// identical failures costs at most one call per (operation, identity,
// Region) per TTL. Throttling is retried by the SDK's standard retryer:
// build the clients with NewSESv2Factory from the aws.Config that
// awsconfig.Load returns, which carries sesguard's retry settings.
package facts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// API is the part of the SES v2 client this package calls. *sesv2.Client
// satisfies it.
type API interface {
	GetAccount(ctx context.Context, in *sesv2.GetAccountInput, optFns ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error)
	GetEmailIdentity(ctx context.Context, in *sesv2.GetEmailIdentityInput, optFns ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error)
}

// ClientFactory returns the client for one Region. SES is a per-Region
// service, so every Region needs its own client. It is called often and
// should return a cached client (NewSESv2Factory does).
type ClientFactory func(region string) API

// Defaults for Config's zero values.
const (
	DefaultTTL         = 5 * time.Minute
	DefaultErrorTTL    = 30 * time.Second
	DefaultMaxCalls    = 50
	DefaultConcurrency = 8
	DefaultCallTimeout = 10 * time.Second
)

// DefaultCandidateRegions are the Regions asked besides the sending Region
// when Config.CandidateRegions is nil: the three oldest SES Regions, where
// identities created "somewhere else" most often live.
var DefaultCandidateRegions = []string{"us-east-1", "us-west-2", "eu-west-1"}

// Config configures a Gatherer. Only Clients is required.
type Config struct {
	// Clients returns the SES v2 client for a Region.
	Clients ClientFactory
	// CandidateRegions are asked besides the sending Region. nil means
	// DefaultCandidateRegions; an empty non-nil slice means the sending
	// Region only.
	CandidateRegions []string
	// TTL is how long a result (including "identity does not exist") is
	// reused; DefaultTTL when zero.
	TTL time.Duration
	// ErrorTTL is how long a failed look-up is remembered, so a throttled
	// or denied account is not hammered; DefaultErrorTTL when zero.
	ErrorTTL time.Duration
	// MaxCalls caps the AWS calls one Gather makes (cache hits and
	// look-ups collapsed into another caller's are free). Zero means
	// DefaultMaxCalls; negative means no cap.
	MaxCalls int
	// Concurrency bounds the AWS calls in flight across the Gatherer;
	// DefaultConcurrency when zero.
	Concurrency int
	// CallTimeout bounds one call, SDK retries included;
	// DefaultCallTimeout when zero.
	CallTimeout time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives look-up failures; slog.Default() when nil.
	Logger *slog.Logger
	// Shared is a cache shared by every execution environment (package
	// state's table), asked before SES and filled after it, so that a
	// storm costs one look-up per Region per TTL for the whole stack
	// instead of one per environment. nil: this container's cache only.
	Shared SharedCache
}

// SharedCache is a cache of look-up answers shared across execution
// environments; *state.Store satisfies it. Values are opaque bytes.
type SharedCache interface {
	Fact(ctx context.Context, key string, now time.Time) ([]byte, bool)
	PutFact(ctx context.Context, key string, v []byte, now time.Time, ttl time.Duration)
}

// Gatherer gathers account facts for failures. It is safe for concurrent
// use; keep one per container so its cache outlives an invocation.
type Gatherer struct {
	clients     ClientFactory
	candidates  []string
	maxCalls    int
	callTimeout time.Duration
	log         *slog.Logger
	sem         chan struct{}
	cache       *cache
	shared      SharedCache
	now         func() time.Time
	ttl         time.Duration
}

// NewGatherer returns a Gatherer for cfg.
func NewGatherer(cfg Config) *Gatherer {
	if cfg.Clients == nil {
		panic("facts: Config.Clients is nil")
	}
	g := &Gatherer{
		clients:     cfg.Clients,
		candidates:  cfg.CandidateRegions,
		maxCalls:    cfg.MaxCalls,
		callTimeout: cfg.CallTimeout,
		log:         cfg.Logger,
	}
	if g.candidates == nil {
		g.candidates = DefaultCandidateRegions
	}
	if g.maxCalls == 0 {
		g.maxCalls = DefaultMaxCalls
	}
	if g.callTimeout <= 0 {
		g.callTimeout = DefaultCallTimeout
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	n := cfg.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	g.sem = make(chan struct{}, n)
	ttl, errTTL := cfg.TTL, cfg.ErrorTTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if errTTL <= 0 {
		errTTL = DefaultErrorTTL
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	g.cache = newCache(now, ttl, errTTL)
	g.shared, g.now, g.ttl = cfg.Shared, now, ttl
	return g
}

// Gather returns the facts for identities (addresses or domains, as a
// failure names them) in sendingRegion and the candidate Regions. It never
// returns nil and never fails: what could not be learned is nil in the
// result and explained in RegionFacts.Errors.
func (g *Gatherer) Gather(ctx context.Context, sendingRegion string, identities []string) *ruleset.Facts {
	return g.GatherRegions(ctx, sendingRegion, g.candidates, identities)
}

// GatherRegions is Gather with an explicit list of Regions to ask besides
// sendingRegion (which may be empty).
func (g *Gatherer) GatherRegions(ctx context.Context, sendingRegion string, regions []string, identities []string) *ruleset.Facts {
	f, _ := g.GatherReport(ctx, sendingRegion, regions, identities)
	return f
}

// GatherReport is GatherRegions that also says, per Region, whether SES
// answered and, when a look-up failed, why (Report), so a caller can tell
// "checked" from "could not check".
func (g *Gatherer) GatherReport(ctx context.Context, sendingRegion string, regions []string, identities []string) (*ruleset.Facts, Report) {
	sendingRegion = ruleset.NormaliseRegion(sendingRegion)
	regs := regionList(sendingRegion, regions)
	names := lookupNames(identities)

	// Tasks in priority order: the sending Region first, and in each
	// Region the account before the identities, so a budget that runs out
	// costs the least useful facts.
	var tasks []key
	for _, r := range regs {
		tasks = append(tasks, key{op: opGetAccount, region: r})
		for _, n := range names {
			tasks = append(tasks, key{op: opGetEmailIdentity, identity: n, region: r})
		}
	}
	results := g.run(ctx, tasks)

	f := &ruleset.Facts{SendingRegion: sendingRegion, Regions: make(map[string]*ruleset.RegionFacts, len(regs))}
	known := make(map[string]bool, len(regs)) // Region has at least one definite identity answer
	report := make(Report, len(regs))
	at := make(map[string]*RegionOutcome, len(regs))
	for i, r := range regs {
		f.Regions[r] = &ruleset.RegionFacts{Identities: map[string]string{}}
		report[i].Region = r
		at[r] = &report[i]
	}
	for i, k := range tasks {
		rf, res, o := f.Regions[k.region], results[i], at[k.region]
		if res.err != nil {
			rf.Errors = append(rf.Errors, describe(k, res.err))
			if o.Problem == ProblemNone {
				o.Problem, o.Detail = ProblemOf(res.err), MaskAddresses(res.err.Error())
			}
			continue
		}
		o.Checked = true
		switch k.op {
		case opGetAccount:
			a := res.account
			rf.ProductionAccess = ruleset.Bool(a.productionAccess)
			rf.SendingEnabled = ruleset.Bool(a.sendingEnabled)
			rf.EnforcementStatus = a.enforcementStatus
			rf.SuppressedReasons = slices.Clone(a.suppressedReasons) // the cache's copy is shared
		case opGetEmailIdentity:
			known[k.region] = true
			if !res.absent {
				rf.Identities[k.identity] = res.status
			}
		}
	}
	// An empty map says "none of these identities exists here"; when no
	// identity look-up in a Region got an answer (all failed, or none was
	// asked) we know nothing of the kind, and nil says so.
	for r, rf := range f.Regions {
		if !known[r] {
			rf.Identities = nil
		}
	}
	return f, report
}

// run resolves every task: from the cache, by waiting for an identical
// look-up already in flight, or by calling SES within the budget.
func (g *Gatherer) run(ctx context.Context, tasks []key) []result {
	results := make([]result, len(tasks))
	waits := make([]*entry, len(tasks))
	budget := g.maxCalls

	var leads []int // tasks this call looks up
	for i, k := range tasks {
		e, state := g.cache.claim(k, func() bool {
			if budget < 0 {
				return true
			}
			if budget == 0 {
				return false
			}
			budget--
			return true
		})
		switch state {
		case stateHit:
			results[i] = e.res
		case stateWait:
			waits[i] = e
		case stateLead:
			waits[i] = e
			leads = append(leads, i)
		case stateNoBudget:
			results[i] = result{err: &budgetError{max: g.maxCalls}}
		}
	}
	found := g.fromSharedBatch(ctx, tasks, leads)
	for _, i := range leads {
		k, e := tasks[i], waits[i]
		if res, ok := found[k]; ok {
			g.cache.finish(k, e, res)
			continue
		}
		go func() { g.cache.finish(k, e, g.call(ctx, k)) }()
	}
	for i, e := range waits {
		if e != nil {
			results[i] = g.await(ctx, tasks[i], e)
		}
	}
	return results
}

// await waits for e. When e's leader gave up because its own caller went
// away, the answer says nothing about SES, so a caller still waiting asks
// again (joining or leading a new look-up) instead of inheriting it.
func (g *Gatherer) await(ctx context.Context, k key, e *entry) result {
	for range 3 {
		select {
		case <-e.done:
		default:
			select {
			case <-e.done:
			case <-ctx.Done():
				return result{err: fmt.Errorf("wait for identical look-up: %w", ctx.Err())}
			}
		}
		if !e.res.callerGone || ctx.Err() != nil {
			return e.res
		}
		// A retry is one more call; it is not charged to the budget,
		// since the call it replaces was not made for this caller.
		var state claimState
		e, state = g.cache.claim(k, func() bool { return true })
		switch state {
		case stateHit:
			return e.res
		case stateLead:
			res := g.call(ctx, k)
			g.cache.finish(k, e, res)
			return res
		}
	}
	return e.res
}

// call makes one SES call, holding a concurrency slot.
func (g *Gatherer) call(ctx context.Context, k key) result {
	select {
	case g.sem <- struct{}{}:
		defer func() { <-g.sem }()
	case <-ctx.Done():
		return result{err: ctx.Err(), callerGone: true}
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, g.callTimeout)
	defer cancel()
	if g.shared != nil {
		if res, ok := g.fromShared(ctx, k); ok {
			return res
		}
	}
	client := g.clients(k.region)
	var res result
	switch k.op {
	case opGetAccount:
		out, err := client.GetAccount(ctx, &sesv2.GetAccountInput{})
		res = accountResult(out, err)
	case opGetEmailIdentity:
		out, err := client.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(k.identity)})
		res = identityResult(out, err)
	}
	if res.err != nil && parent.Err() != nil {
		res.callerGone = true
		return res
	}
	if g.shared != nil && res.err == nil {
		g.toShared(ctx, k, res)
	}
	if res.err != nil {
		g.log.WarnContext(ctx, "ses look-up failed", "op", k.op.String(), "region", k.region,
			"identity", MaskAddress(k.identity), "unsupported", errors.Is(res.err, ErrUnsupported), "err", MaskAddresses(res.err.Error()))
	}
	return res
}

// regionList returns sending followed by the other Regions, normalised and
// without duplicates.
func regionList(sending string, others []string) []string {
	var out []string
	if sending != "" {
		out = append(out, sending)
	}
	for _, r := range others {
		r = ruleset.NormaliseRegion(r)
		if r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// lookupNames returns the SES identities worth asking about for the given
// addresses and domains, without duplicates, most specific first.
func lookupNames(identities []string) []string {
	var out []string
	for _, id := range identities {
		for _, v := range IdentityVariants(id) {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// IdentityVariants returns the identities SES might be using for id: for an
// address, the address as given, without its "+label", and the lower-case
// forms of those (SES addresses are case-sensitive, so "Bob@x.com" and
// "bob@x.com" are different identities); then the address's domain and one
// parent domain (a verified domain covers its subdomains). For a domain, the
// lower-case domain and one parent (domains are case-insensitive).
//
// The parent is only taken from names with three or more labels, so
// "example.com" never yields "com"; without a public-suffix list,
// "example.co.uk" still yields "co.uk", which costs one NotFound.
func IdentityVariants(id string) []string {
	id = strings.Trim(strings.TrimSpace(id), "<>")
	if id == "" {
		return nil
	}
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	domain := id
	if at := strings.LastIndexByte(id, '@'); at >= 0 {
		local, dom := id[:at], id[at+1:]
		if local == "" || dom == "" {
			return nil
		}
		addrs := []string{id}
		if plus := strings.IndexByte(local, '+'); plus > 0 {
			addrs = append(addrs, local[:plus]+"@"+dom)
		}
		for _, a := range addrs {
			add(a)
		}
		for _, a := range addrs {
			add(strings.ToLower(a))
		}
		domain = dom
	}
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	add(domain)
	if labels := strings.Split(domain, "."); len(labels) >= 3 {
		add(strings.Join(labels[1:], "."))
	}
	return out
}

// MaskAddress masks an identity value that may be an address: it keeps
// the first character of the local part and the domain
// ("j***@example.com"), so logs can be correlated without carrying
// addresses. Domains and empty values are returned as they are; an empty
// local part shows as "***@example.com". MaskAddresses does the same to
// every address in free text.
func MaskAddress(id string) string {
	at := strings.LastIndexByte(id, '@')
	if at < 0 {
		return id
	}
	return maskLocal(id[:at]) + id[at:]
}

// maskLocal is how a local part shows in logs: its first character.
func maskLocal(local string) string {
	if local == "" {
		return "***"
	}
	return local[:1] + "***"
}

// Masked is an identity value logged through MaskAddress.
type Masked string

// LogValue implements slog.LogValuer.
func (m Masked) LogValue() slog.Value { return slog.StringValue(MaskAddress(string(m))) }

// localPart matches the local part of an address in free text, up to its
// '@'. The class is narrower than RFC 5322 allows so that the text around
// an address ("identity/", a quote, '<') is not taken for part of it.
var localPart = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9]`)

// MaskAddresses masks every email address in s the way logs show one
// ("b***@example.com"). SES errors name the identity they concern (an
// AccessDenied names "…:identity/bob@example.com"), so error text is
// masked before it is logged or kept in RegionFacts.Errors.
func MaskAddresses(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	return localPart.ReplaceAllStringFunc(s, func(m string) string {
		at := strings.IndexByte(m, '@')
		return maskLocal(m[:at]) + m[at:]
	})
}
