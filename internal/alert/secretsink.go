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
// A secret that cannot be loaded is logged (without the URL) and Slack is
// off for now: alerts still reach the other sinks. A later Send loads it
// again once the back-off has passed (RetryBackoff, doubling up to
// MaxRetryBackoff), so a Secrets Manager hiccup at cold start does not
// turn Slack off for the environment's whole life.
type SecretSlackSink struct {
	ref string
	sm  SecretsGetter
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	ready   chan struct{} // closed when the current load is over
	sink    *SlackSink
	err     error
	logged  bool // err has been logged
	nextTry time.Time
	backoff time.Duration
}

// LoadTimeout bounds the background load of the webhook URL.
const LoadTimeout = 10 * time.Second

// Back-off between loads of a webhook URL that could not be loaded.
const (
	RetryBackoff    = 30 * time.Second
	MaxRetryBackoff = 15 * time.Minute
)

// NewSecretSlackSink starts loading the webhook URL named by ref (a secret
// name or ARN, see LoadWebhookURL) and returns at once.
func NewSecretSlackSink(ref string, sm SecretsGetter, log *slog.Logger) *SecretSlackSink {
	return newSecretSlackSink(ref, sm, log, time.Now)
}

func newSecretSlackSink(ref string, sm SecretsGetter, log *slog.Logger, now func() time.Time) *SecretSlackSink {
	if log == nil {
		log = slog.Default()
	}
	s := &SecretSlackSink{ref: ref, sm: sm, log: log, now: now}
	s.mu.Lock()
	s.startLoadLocked()
	s.mu.Unlock()
	return s
}

// startLoadLocked starts a load; s.mu is held.
func (s *SecretSlackSink) startLoadLocked() {
	ready := make(chan struct{})
	s.ready = ready
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), LoadTimeout)
		defer cancel()
		url, err := LoadWebhookURL(ctx, s.ref, s.sm)
		var sink *SlackSink
		if err == nil {
			sink, err = NewSlackSink(url, nil)
		}
		s.mu.Lock()
		s.sink, s.err = sink, err
		if err != nil {
			s.backoff = min(max(2*s.backoff, RetryBackoff), MaxRetryBackoff)
			s.nextTry = s.now().Add(s.backoff)
			s.logged = false
		}
		s.mu.Unlock()
		close(ready)
	}()
}

// Send posts a to Slack once the URL is loaded; with no URL it does nothing.
func (s *SecretSlackSink) Send(ctx context.Context, a Alert) error {
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		ready := s.ready
		s.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
		sink, err := s.sink, s.err
		if err != nil && attempt == 0 && !s.now().Before(s.nextTry) {
			s.startLoadLocked() // the back-off has passed: try again
			s.mu.Unlock()
			continue
		}
		first := err != nil && !s.logged
		s.logged = s.logged || err != nil
		s.mu.Unlock()
		if err != nil {
			if first {
				s.log.ErrorContext(ctx, "Slack alerts off: cannot load the webhook URL; retried after a back-off", "err", err)
			}
			return nil
		}
		return sink.Send(ctx, a)
	}
}

// String keeps the webhook URL out of logs.
func (s *SecretSlackSink) String() string { return "alert.SecretSlackSink{" + redacted + "}" }

// LogValue keeps the webhook URL out of structured logs.
func (s *SecretSlackSink) LogValue() slog.Value { return slog.StringValue(s.String()) }
