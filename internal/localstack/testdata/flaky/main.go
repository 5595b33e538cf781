// Command flaky is a test function for the local stack's retry paths: it
// fails every record whose message contains "fail" and prints one line per
// record it is handed ("<function> <message> <environment>", the last its
// log stream name), so a test can count the attempts and where they ran. An SNS event fails as a whole with an error; an SQS batch
// names its failed records in a partial batch response. {"hang":true}
// blocks until the invocation's deadline (for Stop's test).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	fn := os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
	stream := os.Getenv("AWS_LAMBDA_LOG_STREAM_NAME")
	lambda.Start(func(ctx context.Context, raw json.RawMessage) (any, error) {
		var ev struct {
			Hang    bool `json:"hang"`
			Records []struct {
				EventSource string `json:"eventSource"`
				MessageID   string `json:"messageId"`
				Body        string `json:"body"`
				Sns         *struct{ Message string }
			}
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		if ev.Hang {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
		var failed error
		for _, r := range ev.Records {
			if r.Sns != nil {
				fmt.Println(fn, r.Sns.Message, stream)
				if strings.Contains(r.Sns.Message, "fail") {
					failed = errors.New("failing " + r.Sns.Message)
				}
				continue
			}
			var env struct{ Message string }
			if err := json.Unmarshal([]byte(r.Body), &env); err != nil {
				return nil, err
			}
			fmt.Println(fn, env.Message, stream)
			if strings.Contains(env.Message, "fail") {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageID})
			}
		}
		if failed != nil {
			return nil, failed
		}
		return resp, nil
	})
}
