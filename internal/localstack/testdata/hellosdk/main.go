// Command hellosdk is the second cold-start baseline for `sesguard bench`:
// hello-world plus what any function calling AWS from Go pays before its
// first line of logic, the AWS SDK's configuration and the four service
// clients the sesguard functions use (SES v2, SNS, CloudWatch, Secrets
// Manager). It makes no call.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		panic(err)
	}
	clients := []any{sesv2.NewFromConfig(cfg), sns.NewFromConfig(cfg), cloudwatch.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg)}
	lambda.Start(func(ctx context.Context, in json.RawMessage) (int, error) { return len(clients), nil })
}
