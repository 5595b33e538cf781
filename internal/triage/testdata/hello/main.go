// Command hello is the smallest aws-lambda-go function: the baseline the
// triage bootstrap's cold start is measured against (functions/triage
// tests).
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (string, error) { return "hello", nil })
}
