package alert

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/aws/smithy-go"
)

func TestTemporary(t *testing.T) {
	api := func(code string, fault smithy.ErrorFault) error {
		return fmt.Errorf("operation error SNS: Publish: %w", &smithy.GenericAPIError{Code: code, Fault: fault})
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"throttled", api("ThrottlingException", smithy.FaultClient), true},
		{"too many requests", api("TooManyRequestsException", smithy.FaultClient), true},
		{"request limit", api("RequestLimitExceeded", smithy.FaultClient), true},
		{"server fault", api("InternalFailure", smithy.FaultServer), true},
		{"unmodelled code, server fault", api("KMSInternalException", smithy.FaultServer), true},
		{"validation", api("ValidationException", smithy.FaultClient), false},
		{"access denied", api("AccessDenied", smithy.FaultClient), false},
		{"not found", api("NotFound", smithy.FaultClient), false},
		{"network", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"no API answer", errors.New("sns: connection reset"), true},
		{"out of time", fmt.Errorf("publish: %w", context.DeadlineExceeded), true},
		{"slack 404", &WebhookError{StatusCode: 404}, false},
		{"slack 429", &WebhookError{StatusCode: 429}, true},
		{"slack 503", &WebhookError{StatusCode: 503}, true},
		{"slack 404 and SNS throttled", errors.Join(&WebhookError{StatusCode: 404}, api("Throttling", smithy.FaultClient)), true},
		{"slack 404 and SNS refused", errors.Join(&WebhookError{StatusCode: 404}, api("AuthorizationError", smithy.FaultClient)), false},
	} {
		if got := Temporary(tc.err); got != tc.want {
			t.Errorf("%s: Temporary(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
