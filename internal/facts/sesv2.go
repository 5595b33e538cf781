package facts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// IAMActions are the actions this package calls; the functions' policies
// must grant them (a template test compares).
var IAMActions = []string{"ses:GetAccount", "ses:GetEmailIdentity"}

// AllSESRegions are the commercial-partition ("aws") Regions with an SES
// v2 endpoint, as the SDK's own endpoint table lists them
// (service/sesv2/internal/endpoints in the sesv2 module go.mod pins),
// asked by LiveCheck. Opt-in Regions the account has not enabled answer
// with an error, which is recorded, not fatal. GovCloud, China and the
// European Sovereign Cloud need their own credentials and are left out.
var AllSESRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"af-south-1",
	"ap-east-2", "ap-south-1", "ap-south-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
	"ap-southeast-6", "ap-southeast-7",
	"ca-central-1", "ca-west-1",
	"eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3",
	"eu-south-1", "eu-south-2", "eu-north-1",
	"il-central-1", "me-central-1", "me-south-1",
	"mx-central-1",
	"sa-east-1",
}

// ErrUnsupported marks a look-up the endpoint does not implement (an
// emulator without GetAccount, say). The fact stays unknown.
var ErrUnsupported = errors.New("operation not supported by the endpoint")

// budgetError is the result of a look-up skipped because the Gather's call
// budget was spent.
type budgetError struct{ max int }

func (e *budgetError) Error() string {
	return fmt.Sprintf("skipped: call budget of %d per look-up exhausted", e.max)
}

// NewSESv2Factory returns a ClientFactory that builds one *sesv2.Client per
// Region from cfg and reuses it. Build cfg with internal/awsconfig so that
// clients get the standard retryer (throttling is retried with back-off)
// and, for local runs, the emulator endpoint.
func NewSESv2Factory(cfg aws.Config) ClientFactory {
	clients := SESv2Clients(cfg)
	return func(region string) API { return clients(region) }
}

// SESv2Clients returns a function that builds one *sesv2.Client per Region
// from cfg and reuses it; SES is per Region, and so are its clients.
func SESv2Clients(cfg aws.Config) func(region string) *sesv2.Client {
	var mu sync.Mutex
	clients := make(map[string]*sesv2.Client)
	return func(region string) *sesv2.Client {
		mu.Lock()
		defer mu.Unlock()
		c, ok := clients[region]
		if !ok {
			c = sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.Region = region })
			clients[region] = c
		}
		return c
	}
}

// LiveCheck asks every Region in AllSESRegions (plus sendingRegion, which
// may be empty) about the account and identities, concurrently and without
// a call cap. It is the CLI's `diagnose --live` and `facts`; the result is
// the same shape as Gather's, with the per-Region Report that says what
// could not be checked and why.
func LiveCheck(ctx context.Context, clients ClientFactory, sendingRegion string, identities []string) (*ruleset.Facts, Report) {
	g := NewGatherer(Config{
		Clients:     clients,
		MaxCalls:    -1,
		Concurrency: 16,
	})
	return g.GatherReport(ctx, sendingRegion, AllSESRegions, identities)
}

func accountResult(out *sesv2.GetAccountOutput, err error) result {
	if err != nil {
		return result{err: classify(err)}
	}
	a := &accountFacts{
		productionAccess:  out.ProductionAccessEnabled,
		sendingEnabled:    out.SendingEnabled,
		enforcementStatus: aws.ToString(out.EnforcementStatus),
		suppressedReasons: []string{},
	}
	if s := out.SuppressionAttributes; s != nil {
		for _, r := range s.SuppressedReasons {
			a.suppressedReasons = append(a.suppressedReasons, string(r))
		}
	}
	return result{account: a}
}

func identityResult(out *sesv2.GetEmailIdentityOutput, err error) result {
	if err != nil {
		if _, ok := errors.AsType[*types.NotFoundException](err); ok {
			return result{absent: true}
		}
		return result{err: classify(err)}
	}
	status := string(out.VerificationStatus)
	if status == "" {
		// SES always sends VerificationStatus; kumo sends only
		// VerifiedForSendingStatus. Infer from it rather than report an
		// existing identity as having no status.
		status = ruleset.StatusPending
		if out.VerifiedForSendingStatus {
			status = ruleset.StatusSuccess
		}
	}
	return result{status: status}
}

// unsupportedCodes are error codes endpoints use for an operation they do
// not implement.
var unsupportedCodes = map[string]bool{
	"UnknownOperationException": true,
	"UnsupportedOperation":      true,
	"NotImplemented":            true,
	"NotImplementedException":   true,
	"InvalidAction":             true,
}

// classify wraps err in ErrUnsupported when the endpoint does not implement
// the operation: an "unknown operation" error code, or an HTTP 404/405/501
// that carries no API error at all (kumo answers GetAccount with a 404 page;
// SES's own "not found" is a NotFoundException, handled before this).
func classify(err error) error {
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		if unsupportedCodes[ae.ErrorCode()] {
			return fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		return err
	}
	if re, ok := errors.AsType[*smithyhttp.ResponseError](err); ok {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
			return fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
	}
	return err
}

// describe is the RegionFacts.Errors line for a failed look-up: the
// operation, the identity and the Region, then why the fact is unknown.
// Addresses are masked: the line reaches logs and alerts.
func describe(k key, err error) string {
	what := k.op.String()
	if k.identity != "" {
		what += " " + MaskAddress(k.identity)
	}
	var be *budgetError
	switch {
	case errors.As(err, &be):
		return fmt.Sprintf("%s in %s: %v (facts unknown)", what, k.region, err)
	case errors.Is(err, ErrUnsupported):
		return fmt.Sprintf("%s in %s: not supported by the endpoint (facts unknown)", what, k.region)
	}
	if p := ProblemOf(err); p != ProblemOther {
		return fmt.Sprintf("%s in %s: %s: %s (facts unknown)", what, k.region, p, MaskAddresses(err.Error()))
	}
	return fmt.Sprintf("%s in %s: %s (facts unknown)", what, k.region, MaskAddresses(err.Error()))
}
