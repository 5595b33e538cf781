// Command hello is the cold-start baseline (localstack.HelloPackage) for
// `sesguard bench` and the triage bootstrap's test: the smallest
// aws-lambda-go function, built exactly like the sesguard bootstraps.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, in json.RawMessage) (string, error) { return "hello", nil })
}
