package alert

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// Temporary reports whether the call that failed with err may succeed on a
// later try: the one rule by which both functions choose between trying
// again (an SQS batch item failure, an SNS retry, the next scheduled run)
// and giving up (the failure is logged and, for an alert, counted as
// delivered). The SDK has already retried the call by then; the question
// is whether a later invocation may do better.
//
//   - Joined errors (a Fanout's): temporary if any part is.
//   - A WebhookError: its Retryable (no answer, 429, 5xx).
//   - A call cut short by its context (cancelled, out of time): temporary.
//   - Otherwise the AWS SDK's own retry classification
//     (retry.DefaultRetryables: connection errors, HTTP 500, 502, 503 and
//     504, throttling codes, request timeouts) where it has an answer.
//   - An AWS API error with a server fault is temporary; any other API
//     answer (validation, access denied, not found) is not.
//   - An error with no API answer at all (network, or a test's fake) is
//     temporary.
func Temporary(err error) bool {
	if err == nil {
		return false
	}
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range multi.Unwrap() {
			if Temporary(e) {
				return true
			}
		}
		return false
	}
	var we *WebhookError
	if errors.As(err, &we) {
		return we.Retryable()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) {
	case aws.TrueTernary:
		return true
	case aws.FalseTernary:
		return false
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorFault() == smithy.FaultServer
	}
	return true
}
