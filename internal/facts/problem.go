package facts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// Problem says in a few words why a look-up could not be made. An operator
// acts differently on each (log in, ask for a permission, wait, enable a
// Region), so the CLI reports them by name, per Region.
type Problem string

// Problems a look-up can have.
const (
	ProblemNone          Problem = ""
	ProblemNoCredentials Problem = "no AWS credentials"
	ProblemExpired       Problem = "credentials expired"
	// ProblemRejected is an unknown key or a bad signature; in an opt-in
	// Region the account has not enabled SES answers the same way.
	ProblemRejected    Problem = "credentials not accepted (or the Region is not enabled for the account)"
	ProblemDenied      Problem = "access denied"
	ProblemThrottled   Problem = "throttled"
	ProblemUnsupported Problem = "not supported by the endpoint"
	ProblemBudget      Problem = "skipped (call budget spent)"
	ProblemTimeout     Problem = "timed out"
	ProblemOther       Problem = "failed"
)

// problemCodes maps AWS error codes to problems. The codes are the ones STS,
// SES and the query/JSON protocols answer with (aws-sdk-go-v2's retryer
// lists the throttling ones in aws/retry/throttle_error.go).
var problemCodes = map[string]Problem{
	"ExpiredToken":                ProblemExpired,
	"ExpiredTokenException":       ProblemExpired,
	"RequestExpired":              ProblemExpired,
	"TokenRefreshRequired":        ProblemExpired,
	"UnrecognizedClientException": ProblemRejected,
	"InvalidClientTokenId":        ProblemRejected,
	"InvalidSignatureException":   ProblemRejected,
	"SignatureDoesNotMatch":       ProblemRejected,
	"IncompleteSignature":         ProblemRejected,
	"AccessDenied":                ProblemDenied,
	"AccessDeniedException":       ProblemDenied,
	"Throttling":                  ProblemThrottled,
	"ThrottlingException":         ProblemThrottled,
	"ThrottledException":          ProblemThrottled,
	"TooManyRequestsException":    ProblemThrottled,
	"RequestLimitExceeded":        ProblemThrottled,
	"RequestThrottled":            ProblemThrottled,
	"SlowDown":                    ProblemThrottled,
}

// ProblemOf classifies a look-up error; ProblemNone for nil.
func ProblemOf(err error) Problem {
	if err == nil {
		return ProblemNone
	}
	if _, ok := errors.AsType[*budgetError](err); ok {
		return ProblemBudget
	}
	if errors.Is(err, ErrUnsupported) {
		return ProblemUnsupported
	}
	// The signer fails before anything is sent when the credential chain
	// (environment, shared files, SSO, container, instance role) found
	// nothing or could not refresh.
	if _, ok := errors.AsType[*v4.SigningError](err); ok {
		return ProblemNoCredentials
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		if p, ok := problemCodes[ae.ErrorCode()]; ok {
			return p
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ProblemTimeout
	}
	return ProblemOther
}

// RegionOutcome is what a live check learned in one Region.
type RegionOutcome struct {
	Region string
	// Checked is true when at least one look-up got an answer from SES.
	Checked bool
	// Problem is why the Region's look-ups failed (the first failure's
	// problem); ProblemNone when none failed.
	Problem Problem
	// Detail is the first failure's error text, addresses masked.
	Detail string
}

// Report is a live check's outcome per Region, in the order asked.
type Report []RegionOutcome

// Checked counts the Regions where SES answered.
func (r Report) Checked() int {
	n := 0
	for _, o := range r {
		if o.Checked {
			n++
		}
	}
	return n
}

// Summary says in plain lines what could not be checked and why: one line
// per problem, naming the Regions, or "all N Regions" when every Region
// has the same problem. Nothing when every look-up got an answer.
func (r Report) Summary() []string {
	type group struct {
		problem Problem
		detail  string
		regions []string
	}
	var groups []*group
	for _, o := range r {
		if o.Problem == ProblemNone {
			continue
		}
		i := slices.IndexFunc(groups, func(g *group) bool { return g.problem == o.Problem })
		if i < 0 {
			groups = append(groups, &group{problem: o.Problem, detail: o.Detail})
			i = len(groups) - 1
		}
		groups[i].regions = append(groups[i].regions, o.Region)
	}
	var out []string
	for _, g := range groups {
		where := strings.Join(g.regions, ", ")
		if len(g.regions) == len(r) && len(r) > 1 {
			where = fmt.Sprintf("all %d Regions", len(r))
		}
		out = append(out, fmt.Sprintf("%s: %s (%s)", where, g.problem, g.detail))
	}
	return out
}

// Hint is what to do about the report's most telling problem, or "".
func (r Report) Hint() string {
	has := func(p Problem) bool {
		return slices.ContainsFunc(r, func(o RegionOutcome) bool { return o.Problem == p })
	}
	switch {
	case has(ProblemNoCredentials):
		return "Give credentials the way the AWS CLI takes them: AWS_PROFILE (after `aws sso login` or `aws configure`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
	case has(ProblemExpired):
		return "Refresh the credentials (`aws sso login`, or new session credentials) and run again."
	case has(ProblemDenied):
		return "The identity needs ses:GetAccount and ses:GetEmailIdentity (read-only) in these Regions."
	case has(ProblemThrottled):
		return "SES throttled the look-ups; wait a minute and run again."
	}
	return ""
}

// AnyKnown reports whether f holds at least one fact SES answered with:
// an account setting or an identity look-up in some Region. Facts whose
// every look-up failed are no better than none and must not be presented
// as gathered.
func AnyKnown(f *ruleset.Facts) bool {
	if f == nil {
		return false
	}
	for _, rf := range f.Regions {
		if rf != nil && (rf.ProductionAccess != nil || rf.SendingEnabled != nil || rf.Identities != nil) {
			return true
		}
	}
	return false
}
