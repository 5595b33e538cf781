// Command bouncewatch is the bouncewatch Lambda: it counts SES events from
// SQS (or SNS) and, on a schedule, evaluates bounce and complaint rates.
// The logic lives in internal/bouncewatch; this file only wires it.
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/awsconfig"
	"github.com/sesguard/sesguard/internal/bouncewatch"
	"github.com/sesguard/sesguard/internal/dryrun"
	"github.com/sesguard/sesguard/internal/state"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := newHandler(context.Background(), os.Getenv)
	if err != nil {
		slog.Error("startup failed", "err", err)
		os.Exit(1)
	}
	// A batch (up to Lambda's 6 MiB) sits in the runtime client's buffer
	// while the handler turns it into short-lived garbage, a few KB per
	// record; little else lives (the dedup set is at most about 2 MB). Set
	// after start-up, which should not pay for extra collections (about
	// 2 ms of cold start), and only where the environment sets neither.
	if os.Getenv("GOGC") == "" {
		// Collecting at +33% rather than Go's +100% keeps the peak near
		// the batch's own size for about 10% more CPU per batch; the
		// Lambda Runtime Interface Emulator makes the same choice for
		// itself.
		debug.SetGCPercent(33)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit well above what a batch needs makes the collector
		// free the previous batch's buffer before a new one grows, rather
		// than by chance. make bench, three invocations of 10,000 records:
		// peak RSS 34-39 MB in 15 environments with it, 34-43 MB without.
		// Soft: were the live heap ever above it, the collector would use
		// at most half the CPU, and no allocation fails.
		debug.SetMemoryLimit(32 << 20)
	}
	lambda.Start(rawHandler{h})
}

// rawHandler gives the handler the invocation bytes as the runtime client
// read them. Through lambda.Start's reflection path aws-lambda-go would
// copy a 6 MB batch twice (its json.Decoder's buffer, then the
// json.RawMessage), tripling the batch's share of peak memory.
type rawHandler struct{ h *bouncewatch.Handler }

func (r rawHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := r.h.Handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

func newHandler(ctx context.Context, getenv func(string) string) (*bouncewatch.Handler, error) {
	cfg, err := bouncewatch.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	dry, err := dryrun.Enabled(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	if dry {
		// Nothing outside the process: statistics read as empty, alerts
		// and metrics logged as what would have been sent.
		log := slog.Default()
		log.Info("dry run: alerts and metrics are logged, not sent; CloudWatch is not read", "variable", dryrun.EnvDryRun)
		return bouncewatch.New(cfg, bouncewatch.Deps{
			CloudWatch: dryrun.CloudWatch{Log: log},
			Account:    dryrun.SES{Log: log},
			Alerts:     dryrun.Sink(log, cfg.Alerts.TopicARN),
			Log:        log,
		})
	}
	sinks, err := alert.NewSinks(ctx, cfg.Alerts, awsCfg, slog.Default())
	if err != nil {
		return nil, err
	}
	ses := sesv2.NewFromConfig(awsCfg)
	d := bouncewatch.Deps{
		CloudWatch: awsconfig.NewCloudWatch(awsCfg),
		Account:    ses,
		ConfigSets: ses,
		Alerts:     sinks.Sink(),
		Instance:   getenv("AWS_LAMBDA_LOG_STREAM_NAME"),
		Log:        slog.Default(),
	}
	if cfg.StateTable != "" {
		db := dynamodb.NewFromConfig(awsCfg)
		st, err := state.New(state.Options{DB: db, Table: cfg.StateTable, Log: slog.Default()})
		if err != nil {
			return nil, err
		}
		d.Levels, d.Records, d.State = bouncewatch.NewSharedLevels(st), bouncewatch.NewSharedRecords(st), st
		d.Events = state.NewEventClaims(st, db)
	}
	return bouncewatch.New(cfg, d)
}
