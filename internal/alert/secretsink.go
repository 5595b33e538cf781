package alert

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// SecretSlackSink is a SlackSink whose webhook URL is read from Secrets
// Manager at cold start, in the background. The first SDK call of a cold
// container costs about as much as the whole runtime's start-up (endpoint
// rules, connection, signing); done inline it would be paid by every
// invocation that starts a container, even those with nothing to alert.
// Send waits for the load only when there is something to send.
//
// A secret that cannot be loaded is logged once (without the URL) and
// Slack is off: alerts still reach the other sinks.
type SecretSlackSink struct {
	ready chan struct{}
	once  sync.Once
	sink  *SlackSink
	err   error
	log   *slog.Logger
}

// LoadTimeout bounds the background load of the webhook URL.
const LoadTimeout = 10 * time.Second

// NewSecretSlackSink starts loading the webhook URL named by ref (a secret
// name or ARN, see LoadWebhookURL) and returns at once.
func NewSecretSlackSink(ref string, sm SecretsGetter, log *slog.Logger) *SecretSlackSink {
	if log == nil {
		log = slog.Default()
	}
	s := &SecretSlackSink{ready: make(chan struct{}), log: log}
	go func() {
		defer close(s.ready)
		ctx, cancel := context.WithTimeout(context.Background(), LoadTimeout)
		defer cancel()
		url, err := LoadWebhookURL(ctx, ref, sm)
		if err == nil {
			s.sink, err = NewSlackSink(url, nil)
		}
		s.err = err
	}()
	return s
}

// Send posts a to Slack once the URL is loaded; with no URL it does nothing.
func (s *SecretSlackSink) Send(ctx context.Context, a Alert) error {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.err != nil {
		s.once.Do(func() { s.log.ErrorContext(ctx, "Slack alerts off: cannot load the webhook URL", "err", s.err) })
		return nil
	}
	return s.sink.Send(ctx, a)
}

// String keeps the webhook URL out of logs.
func (s *SecretSlackSink) String() string { return "alert.SecretSlackSink{" + redacted + "}" }

// LogValue keeps the webhook URL out of structured logs.
func (s *SecretSlackSink) LogValue() slog.Value { return slog.StringValue(s.String()) }
