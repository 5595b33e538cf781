// Package bouncewatch is the logic of the bouncewatch Lambda. Its event
// path counts sends, deliveries, bounces, complaints and rejects from SES
// event-publishing records (SQS batches of SNS envelopes, or SNS directly)
// per scope and publishes them with one PutMetricData call per batch. Its
// evaluate path, run on a schedule, reads the trailing window back with one
// GetMetricData call, judges bounce and complaint rates with package
// reputation, publishes rates, headroom and the announced level, and alerts
// when a level changes or when our rate and SES's own disagree.
//
// Evaluate runs in four steps: readWindow (GetMetricData, GetAccount),
// assess (pure), announce (alerts for level changes) and persist (one
// PutMetricData call). The last announced level of each scope and kind is
// kept behind LevelStore. Its first implementation keeps the Lambda
// stateless: the level is read back from the AlertLevel metric it
// published itself, in one-minute buckets, so the evaluation schedule must
// be at least one minute apart. A DynamoDB LevelStore (package
// internal/state, Deps.Levels) replaces the read-back with a
// version-checked write, so that one execution environment announces each
// change.
//
// After announcing, an evaluation watches SES's own enforcement (the
// account's status and sending flag from GetAccount, the watched
// configuration sets' sending flags) and, when Config.AutoPause allows,
// pauses a watched configuration set whose rate is critical with the
// sample guard (pause.go); both act once across environments through
// RecordStore. Each evaluation also forecasts when the bounce rate would
// reach its next threshold at the recent pace (forecast.go). Counts carry
// the SES events' own times, and a scheduled evaluation runs as of the
// time its schedule fired (clock.go), so the window has the shape of when
// mail was sent and bounced.
package bouncewatch

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/dryrun"
	"github.com/sesguard/sesguard/internal/envvar"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/reputation"
	"github.com/sesguard/sesguard/internal/state"
)

// Environment variables read by LoadConfig (besides those of package
// reputation, metrics.EnvNamespace and the alert destinations' variables
// shared with triage, alert.EnvAlertsTopicARN and
// alert.EnvSlackWebhookSecret).
const (
	EnvRegion           = "AWS_REGION"
	EnvWindow           = "EVALUATION_WINDOW" // Go duration, MinWindow to MaxWindow, default 24h
	EnvDivergenceMargin = "DIVERGENCE_MARGIN_PERCENT"
	EnvWatchScopes      = "WATCH_SCOPES" // "configuration-set:name,domain:example.com"
)

// EnvVars lists every environment variable the bouncewatch function reads.
var EnvVars = slices.Concat(
	[]string{EnvRegion, metrics.EnvNamespace, alert.EnvAlertsTopicARN, alert.EnvSlackWebhookSecret, EnvWindow, EnvDivergenceMargin, EnvWatchScopes, dryrun.EnvDryRun, EnvAutoPause, state.EnvTable},
	reputation.EnvVars,
)

// IAMActions lists every AWS action the bouncewatch function may call.
// secretsmanager:GetSecretValue is called once, at cold start, when
// EnvSlackWebhookSecret is set.
var IAMActions = slices.Concat([]string{
	"cloudwatch:PutMetricData",
	"cloudwatch:GetMetricData",
	"ses:GetAccount",
	"ses:GetConfigurationSet", // the watched configuration sets' sending flag
	PauseAction,               // granted only when AutoPause is on
	"sns:Publish",
	"secretsmanager:GetSecretValue",
}, state.LevelIAMActions, // the state table: levels and records (state.Value, Swap)
	state.EventIAMActions) // and event claims (state.EventClaims)

// Defaults.
const (
	DefaultWindow = 24 * time.Hour
	// MinWindow and MaxWindow bound EnvWindow. The previous run's
	// AlertLevel is read back from the same window as the counts (one
	// GetMetricData call), so the window must reach back past the previous
	// run: an hour covers any schedule up to rate(59 minutes).
	MinWindow               = time.Hour
	MaxWindow               = 14 * 24 * time.Hour
	DefaultDivergenceMargin = reputation.PPM(10_000) // one percentage point
	// MaxWatchScopes keeps the evaluate path inside one GetMetricData call
	// (500 queries: the account needs 22, each further scope 8).
	MaxWatchScopes = 50
)

// Scope is what a rate is computed for: the account in a Region, one
// configuration set, or one sending domain.
type Scope struct {
	Type string // metrics.ScopeAccount, ScopeConfigurationSet or ScopeDomain
	Name string // Region, configuration set name or domain
}

// String is "account", "configuration-set:name" or "domain:example.com".
func (s Scope) String() string {
	if s.Type == metrics.ScopeAccount {
		return metrics.ScopeAccount
	}
	return s.Type + ":" + s.Name
}

// Config is the function's configuration, read once at cold start.
type Config struct {
	// StateTable is the DynamoDB table shared by every execution
	// environment (package state): announced levels and records are
	// decided there; empty: levels read back from AlertLevel, records in
	// this environment's memory.
	StateTable       string
	Region           string
	Namespace        string
	Alerts           alert.Destinations // none: alerts are only logged
	Window           time.Duration
	DivergenceMargin reputation.PPM
	Scopes           []Scope // evaluated besides the account
	Rates            reputation.Config
	// AutoPause is what to do when a watched configuration set is critical
	// (pause.go); "" is off.
	AutoPause AutoPause
	// PauseCooldown is how long after a pause decision no other is made
	// for the same configuration set; 0 means the window (by then the rates
	// reflect only traffic after the pause).
	PauseCooldown time.Duration
}

// LoadConfig reads Config from getenv. The error names every bad variable
// (envvar's format).
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Region:           strings.TrimSpace(getenv(EnvRegion)),
		StateTable:       strings.TrimSpace(getenv(state.EnvTable)),
		Window:           DefaultWindow,
		DivergenceMargin: DefaultDivergenceMargin,
	}
	var errs []error
	c.Alerts, errs = alert.LoadDestinations(getenv)
	if c.Region == "" {
		errs = append(errs, envvar.Bad(EnvRegion, "", "required (the account scope is the Region)"))
	}
	var err error
	if c.Namespace, err = metrics.Namespace(getenv); err != nil {
		errs = append(errs, err)
	}
	if s := strings.TrimSpace(getenv(EnvWindow)); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < MinWindow || d > MaxWindow {
			errs = append(errs, envvar.Bad(EnvWindow, s, "want a duration between 1h and 336h (e.g. 24h); the previous run's alert level is read back from this window"))
		} else {
			c.Window = d
		}
	}
	if s := getenv(EnvDivergenceMargin); s != "" {
		m, err := reputation.ParsePercent(s)
		if err != nil || m == 0 {
			errs = append(errs, envvar.Bad(EnvDivergenceMargin, s, "want percentage points above 0, e.g. 1"))
		} else {
			c.DivergenceMargin = m
		}
	}
	if s := getenv(EnvWatchScopes); s != "" {
		if c.Scopes, err = ParseScopes(s); err != nil {
			// ParseScopes's error shows the scope without its name, which
			// may be an address.
			errs = append(errs, envvar.BadHidden(EnvWatchScopes, err.Error()))
		}
	}
	if s := strings.TrimSpace(getenv(EnvAutoPause)); s != "" {
		if !slices.Contains(AutoPauseModes, AutoPause(s)) {
			errs = append(errs, envvar.Bad(EnvAutoPause, s, "want off, dry-run or on"))
		} else {
			c.AutoPause = AutoPause(s)
		}
	}
	if c.Rates, err = reputation.ConfigFromEnv(getenv); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// ParseScopes parses a comma-separated list of "configuration-set:NAME" and
// "domain:NAME".
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		typ, name, ok := strings.Cut(item, ":")
		if !ok || (typ != metrics.ScopeConfigurationSet && typ != metrics.ScopeDomain) {
			return nil, fmt.Errorf("scope %q: want configuration-set:NAME or domain:NAME", item)
		}
		if typ == metrics.ScopeDomain {
			name = strings.ToLower(name)
		}
		if err := metrics.ValidateDimension(metrics.DimScope, name); err != nil {
			return nil, fmt.Errorf("scope %q: %w", typ+":…", err)
		}
		sc := Scope{typ, name}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) > MaxWatchScopes {
		return nil, fmt.Errorf("%d scopes: at most %d fit one GetMetricData call", len(out), MaxWatchScopes)
	}
	return out, nil
}
