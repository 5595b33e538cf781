package facts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go"
)

func TestProblemOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Problem
	}{
		{nil, ProblemNone},
		{&v4.SigningError{Err: errors.New("failed to retrieve credentials: no EC2 IMDS role found")}, ProblemNoCredentials},
		{fmt.Errorf("op: %w", &smithy.GenericAPIError{Code: "ExpiredTokenException"}), ProblemExpired},
		{&smithy.GenericAPIError{Code: "AccessDeniedException"}, ProblemDenied},
		{&smithy.GenericAPIError{Code: "TooManyRequestsException"}, ProblemThrottled},
		{&smithy.GenericAPIError{Code: "UnrecognizedClientException"}, ProblemRejected},
		{classify(&smithy.GenericAPIError{Code: "UnknownOperationException"}), ProblemUnsupported},
		{&budgetError{max: 3}, ProblemBudget},
		{context.DeadlineExceeded, ProblemTimeout},
		{errors.New("connection reset"), ProblemOther},
	} {
		if got := ProblemOf(tc.err); got != tc.want {
			t.Errorf("ProblemOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestLiveCheckReport: a Region that denies, one that throttles, the rest
// answering; then every Region failing the same way, which is one line.
func TestLiveCheckReport(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform ses:GetAccount"}
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	clients := func(region string) API {
		fail := func() error {
			switch region {
			case "eu-west-1":
				return denied
			case "ap-south-1":
				return throttled
			}
			return nil
		}
		return fakeAPI{
			GetAccountFn: func(context.Context) (*sesv2.GetAccountOutput, error) {
				if err := fail(); err != nil {
					return nil, err
				}
				return &sesv2.GetAccountOutput{SendingEnabled: true}, nil
			},
			GetEmailIdentityFn: func(context.Context, string) (*sesv2.GetEmailIdentityOutput, error) {
				return nil, fail()
			},
		}
	}
	f, rep := LiveCheck(t.Context(), clients, "us-east-1", nil)
	if got, want := rep.Checked(), len(AllSESRegions)-2; got != want {
		t.Errorf("checked = %d, want %d", got, want)
	}
	sum := strings.Join(rep.Summary(), "\n")
	for _, want := range []string{"eu-west-1: access denied (", "ap-south-1: throttled (", "Rate exceeded"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	if !AnyKnown(f) {
		t.Error("AnyKnown = false with 31 Regions answering")
	}
	if e := f.Regions["eu-west-1"].Errors; len(e) != 1 || !strings.Contains(e[0], "access denied") {
		t.Errorf("eu-west-1 errors = %q", e)
	}

	none := func(string) API {
		return fakeAPI{GetAccountFn: func(context.Context) (*sesv2.GetAccountOutput, error) {
			return nil, &v4.SigningError{Err: errors.New("failed to retrieve credentials")}
		}}
	}
	f, rep = LiveCheck(t.Context(), none, "", nil)
	if rep.Checked() != 0 || AnyKnown(f) {
		t.Errorf("checked = %d, AnyKnown = %v; want nothing known", rep.Checked(), AnyKnown(f))
	}
	want := fmt.Sprintf("all %d Regions: no AWS credentials", len(AllSESRegions))
	if s := rep.Summary(); len(s) != 1 || !strings.HasPrefix(s[0], want) {
		t.Errorf("summary = %q, want one line starting %q", s, want)
	}
	if !strings.Contains(rep.Hint(), "AWS_PROFILE") {
		t.Errorf("hint = %q", rep.Hint())
	}
}
