// Package awsconfig loads the AWS SDK configuration shared by sesguard's
// Lambdas and CLI, with one retry policy for all of them.
//
// Endpoints need nothing here: the SDK itself honours AWS_ENDPOINT_URL (and
// AWS_ENDPOINT_URL_<SERVICE>), which is how the local stack points every
// client at the kumo emulator.
package awsconfig

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
)

// MaxAttempts is how many times a call is tried, the first included.
const MaxAttempts = 5

// MaxBackoff caps the jittered exponential backoff between attempts. It is
// below the SDK's default 20 s so that four retries of a throttled call
// (TooManyRequests, Throttling, ...: the standard retryer's throttle codes)
// still fit a Lambda invocation's timeout.
const MaxBackoff = 5 * time.Second

// NewRetryer returns the standard retryer with sesguard's attempts and
// backoff.
func NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = MaxBackoff
	})
}

// Load returns the default AWS configuration (environment, shared files,
// Lambda role) with NewRetryer. opts are applied after it, so callers may
// override the Region or the retryer (with config.WithRetryer: the SDK
// ignores config.WithRetryMaxAttempts and AWS_MAX_ATTEMPTS once a retryer is
// set).
func Load(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	all := append([]func(*config.LoadOptions) error{
		config.WithRetryer(NewRetryer),
	}, opts...)
	cfg, err := config.LoadDefaultConfig(ctx, all...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	return cfg, nil
}

// NewCloudWatch returns the CloudWatch client of both functions. Pointed at
// an emulator (AWS_ENDPOINT_URL, which the SDK loads as cfg.BaseEndpoint)
// it sends PutMetricData uncompressed: kumo, the local stack, cannot read
// gzip-compressed bodies, which the SDK sends once a body passes 10 KB.
func NewCloudWatch(cfg aws.Config) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
		o.DisableRequestCompression = cfg.BaseEndpoint != nil
	})
}
