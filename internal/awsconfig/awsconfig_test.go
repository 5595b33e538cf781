package awsconfig

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/sivchari/kumo"
)

// isolate keeps the developer's own AWS files and profile out of the test.
func isolate(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/credentials")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_ENDPOINT_URL_SQS", "")
	t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "")
}

// TestEndpointFromEnv shows that AWS_ENDPOINT_URL alone points clients at the
// emulator: Load adds nothing for endpoints.
func TestEndpointFromEnv(t *testing.T) {
	isolate(t)
	srv := kumo.NewServer()
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)

	ctx := context.Background()
	cfg, err := Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != srv.URL {
		t.Errorf("BaseEndpoint = %v, want %s", cfg.BaseEndpoint, srv.URL)
	}
	c := sqs.NewFromConfig(cfg)
	if _, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("probe")}); err != nil {
		t.Fatalf("CreateQueue via AWS_ENDPOINT_URL: %v", err)
	}
	out, err := c.ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.QueueUrls) != 1 {
		t.Errorf("queues on the emulator: %v", out.QueueUrls)
	}
}

func TestRetryer(t *testing.T) {
	isolate(t)
	cfg, err := Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := sqs.NewFromConfig(cfg).Options().Retryer
	if r.MaxAttempts() != MaxAttempts {
		t.Errorf("MaxAttempts = %d, want %d", r.MaxAttempts(), MaxAttempts)
	}
	if !r.IsErrorRetryable(throttleErr{}) {
		t.Error("throttling error not retryable")
	}
	for attempt := 1; attempt < 10; attempt++ {
		d, err := r.RetryDelay(attempt, throttleErr{})
		if err != nil {
			t.Fatal(err)
		}
		if d > MaxBackoff {
			t.Errorf("attempt %d: delay %v > %v", attempt, d, MaxBackoff)
		}
	}

	// Callers may still replace the retryer.
	cfg, err = Load(context.Background(), config.WithRetryer(func() aws.Retryer {
		return retry.AddWithMaxAttempts(retry.NewStandard(), 2)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if n := sqs.NewFromConfig(cfg).Options().Retryer.MaxAttempts(); n != 2 {
		t.Errorf("override: MaxAttempts = %d", n)
	}
}

// throttleErr looks like SES's v2 throttling error to the retryer.
type throttleErr struct{}

func (throttleErr) Error() string        { return "TooManyRequestsException: slow down" }
func (throttleErr) ErrorCode() string    { return "TooManyRequestsException" }
func (throttleErr) ErrorMessage() string { return "slow down" }
func (throttleErr) ErrorFault() int      { return 0 }
