// Command triage is the triage Lambda's bootstrap: it wires
// internal/triage to the Lambda runtime. All logic lives there.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sesguard/sesguard/internal/awsconfig"
	"github.com/sesguard/sesguard/internal/triage"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

func main() {
	// Compile the embedded rules while the AWS configuration and the Slack
	// secret load: that is network wait, and Build needs the rules after it.
	go ruleset.Default()
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	h, err := build(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("triage startup failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func build(ctx context.Context, getenv func(string) string, log *slog.Logger) (*triage.Handler, error) {
	cfg, err := triage.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	return triage.Build(ctx, cfg, awsCfg, log)
}
