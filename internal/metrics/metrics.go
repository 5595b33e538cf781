// Package metrics is the one place sesguard's CloudWatch metrics are
// declared: the namespace, every metric name, its dimensions and unit, and
// the allowed values of the closed dimensions. The template's dashboard and
// alarms are checked against All, so a metric that is not listed here does
// not exist.
//
// Publisher batches datums for one PutMetricData call per flush, splitting
// only at the API's limits.
package metrics

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/sesguard/sesguard/internal/envvar"
)

// EnvNamespace names the environment variable that overrides the namespace.
const EnvNamespace = "METRICS_NAMESPACE"

// DefaultNamespace is the CloudWatch namespace used when EnvNamespace is unset.
const DefaultNamespace = "SESGuard"

// Namespace returns the namespace configured in the environment, or
// DefaultNamespace. CloudWatch reserves names that begin with "AWS/".
func Namespace(getenv func(string) string) (string, error) {
	ns := strings.TrimSpace(getenv(EnvNamespace))
	if ns == "" {
		return DefaultNamespace, nil
	}
	if strings.HasPrefix(ns, "AWS/") || len(ns) > 255 {
		return "", envvar.Bad(EnvNamespace, ns, "a custom namespace must not start with AWS/ and must be at most 255 characters")
	}
	return ns, nil
}

// Name is a metric name in our namespace.
type Name string

// Metric names. Counters are summed per batch; gauges keep each value.
const (
	// Failures counts classified send failures per rule (triage).
	Failures Name = "Failures"
	// PoisonRecords counts input records a function could not decode and
	// acknowledged without processing.
	PoisonRecords Name = "PoisonRecords"
	// StateFallbacks counts operations on the shared state table (package
	// state) answered from the environment's own memory because DynamoDB
	// throttled or failed: while it is non-zero, duplicates across
	// environments are possible (never lost alerts).
	StateFallbacks Name = "StateFallbacks"
	// FactsUnavailable counts triage records retried because an account
	// fact a decision depends on (suppression in auto mode) could not be
	// looked up (throttled, failed).
	FactsUnavailable Name = "FactsUnavailable"

	// Bouncewatch counters, one per recipient and event. Mailbox-simulator
	// recipients go to SimulatorEvents only.
	Sends             Name = "Sends"
	Deliveries        Name = "Deliveries"
	HardBounces       Name = "HardBounces"       // Permanent, except OnAccountSuppressionList: counts toward the bounce rate
	SoftBounces       Name = "SoftBounces"       // Transient and Undetermined: do not count
	SuppressedBounces Name = "SuppressedBounces" // Permanent/OnAccountSuppressionList: do not count, and their sends leave the denominator
	SimulatorEvents   Name = "SimulatorEvents"   // any event for a @simulator.amazonses.com recipient
	Complaints        Name = "Complaints"
	Rejects           Name = "Rejects"

	// Bouncewatch gauges, published by each evaluation.
	BounceRate     Name = "BounceRate"     // fraction, like AWS/SES Reputation.BounceRate
	ComplaintRate  Name = "ComplaintRate"  // fraction
	BounceHeadroom Name = "BounceHeadroom" // more hard bounces at the current volume until the critical threshold
	AlertLevel     Name = "AlertLevel"     // announced level: 0 ok, 1 warning, 2 critical, 3 pause-risk
	// ForecastHoursToCritical is the hours until the bounce rate reaches
	// the critical threshold at the recent pace; published only when there
	// is a forecast (enough sample, rate heading there, below critical).
	ForecastHoursToCritical Name = "ForecastHoursToCritical"
)

// Dim is a dimension name.
type Dim string

// Dimension names.
const (
	DimRule      Dim = "Rule"      // taxonomy rule ID
	DimRegion    Dim = "Region"    // AWS Region
	DimFunction  Dim = "Function"  // one of Functions
	DimScopeType Dim = "ScopeType" // one of ScopeTypes
	DimScope     Dim = "Scope"     // Region, configuration set name or sending domain; never an address
	DimKind      Dim = "Kind"      // one of AlertKinds
)

// Scope types (values of DimScopeType).
const (
	ScopeAccount          = "account"           // Scope is the Region
	ScopeConfigurationSet = "configuration-set" // Scope is the configuration set name
	ScopeDomain           = "domain"            // Scope is the sending domain
)

// Alert kinds (values of DimKind on AlertLevel).
const (
	KindBounce     = "bounce"
	KindComplaint  = "complaint"
	KindDivergence = "divergence" // 1 while our rate and SES's disagree
)

// Function names (values of DimFunction).
const (
	FunctionTriage      = "triage"
	FunctionBouncewatch = "bouncewatch"
)

// Closed sets of dimension values.
var (
	ScopeTypes = []string{ScopeAccount, ScopeConfigurationSet, ScopeDomain}
	AlertKinds = []string{KindBounce, KindComplaint, KindDivergence}
	Functions  = []string{FunctionTriage, FunctionBouncewatch}
)

// AllowedValues lists the allowed values of each closed dimension. Rule,
// Region and Scope are open (Rule takes taxonomy IDs).
var AllowedValues = map[Dim][]string{
	DimScopeType: ScopeTypes,
	DimKind:      AlertKinds,
	DimFunction:  Functions,
}

// Aggregation says how a Publisher combines datums for the same metric and
// dimensions within one flush.
type Aggregation int

const (
	// Sum adds values into one datum (counters; CloudWatch's Sum is unchanged).
	Sum Aggregation = iota
	// Distribution keeps every value (as Values/Counts when there is more
	// than one), so Average, Minimum and Maximum stay right (gauges).
	Distribution
)

// Def declares one metric.
type Def struct {
	Name       Name
	Dimensions []Dim // exactly these, in this order
	Unit       types.StandardUnit
	Agg        Aggregation
}

var scopeDims = []Dim{DimScopeType, DimScope}

// All declares every metric sesguard publishes.
var All = []Def{
	{Failures, []Dim{DimRule, DimRegion}, types.StandardUnitCount, Sum},
	{PoisonRecords, []Dim{DimFunction}, types.StandardUnitCount, Sum},
	{StateFallbacks, []Dim{DimFunction}, types.StandardUnitCount, Sum},
	{FactsUnavailable, []Dim{DimRegion}, types.StandardUnitCount, Sum},
	{Sends, scopeDims, types.StandardUnitCount, Sum},
	{Deliveries, scopeDims, types.StandardUnitCount, Sum},
	{HardBounces, scopeDims, types.StandardUnitCount, Sum},
	{SoftBounces, scopeDims, types.StandardUnitCount, Sum},
	{SuppressedBounces, scopeDims, types.StandardUnitCount, Sum},
	{SimulatorEvents, scopeDims, types.StandardUnitCount, Sum},
	{Complaints, scopeDims, types.StandardUnitCount, Sum},
	{Rejects, scopeDims, types.StandardUnitCount, Sum},
	{BounceRate, scopeDims, types.StandardUnitNone, Distribution},
	{ComplaintRate, scopeDims, types.StandardUnitNone, Distribution},
	{BounceHeadroom, scopeDims, types.StandardUnitCount, Distribution},
	{AlertLevel, []Dim{DimScopeType, DimScope, DimKind}, types.StandardUnitNone, Distribution},
	{ForecastHoursToCritical, scopeDims, types.StandardUnitNone, Distribution},
}

// Lookup returns the declaration of name.
func Lookup(name Name) (Def, bool) {
	i := slices.IndexFunc(All, func(d Def) bool { return d.Name == name })
	if i < 0 {
		return Def{}, false
	}
	return All[i], true
}

// SES's own metrics (namespace AWS/SES), read by bouncewatch for comparison.
// Both are fractions (0.05 = 5%).
const (
	SESNamespace     = "AWS/SES"
	SESBounceRate    = "Reputation.BounceRate"
	SESComplaintRate = "Reputation.ComplaintRate"
)

// MaxDimensionValueLen is CloudWatch's limit on a dimension value.
const MaxDimensionValueLen = 1024

// ValidateDimension reports whether value may be used for dimension d: not
// empty, within CloudWatch's length limit, one of the allowed values of a
// closed dimension, and never an email address (anything with an '@').
func ValidateDimension(d Dim, value string) error {
	switch {
	case value == "":
		return fmt.Errorf("dimension %s: empty value", d)
	case len(value) > MaxDimensionValueLen:
		return fmt.Errorf("dimension %s: value longer than %d bytes", d, MaxDimensionValueLen)
	case strings.ContainsRune(value, '@'):
		// Say which dimension, never the value: it may be an address.
		return fmt.Errorf("dimension %s: value contains '@' (addresses never go into dimensions)", d)
	}
	if allowed, ok := AllowedValues[d]; ok && !slices.Contains(allowed, value) {
		return fmt.Errorf("dimension %s: %q is not one of %v", d, value, allowed)
	}
	return nil
}
