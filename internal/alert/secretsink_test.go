package alert

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

func TestSecretSlackSinkLoadsInBackground(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	release := make(chan struct{})
	sm := getSecretFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
		<-release // the load is still running when the constructor returns
		return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(srv.URL + "/services/T/B/x")}, nil
	})
	s := NewSecretSlackSink("sesguard/slack", sm, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Send(ctx, diagnosisAlert()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send before the load finished, with a cancelled context: %v, want context.Canceled", err)
	}
	close(release)
	if err := s.Send(context.Background(), diagnosisAlert()); err != nil {
		t.Fatal(err)
	}
	if posts.Load() != 1 {
		t.Errorf("%d posts, want 1", posts.Load())
	}
}

func TestSecretSlackSinkFailedLoadLogsOnce(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	sm := getSecretFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
		return &secretsmanager.GetSecretValueOutput{SecretString: aws.String("http://hooks.slack.com/services/T0SECRET/B0SECRET/abcdefSECRETtoken")}, nil
	})
	s := NewSecretSlackSink("sesguard/slack", sm, log)
	for range 3 {
		if err := s.Send(context.Background(), diagnosisAlert()); err != nil {
			t.Fatalf("a Slack sink without a URL must not fail the alert: %v", err)
		}
	}
	if n := strings.Count(logs.String(), "Slack alerts off"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "SECRETtoken") {
		t.Errorf("the log leaks the stored value:\n%s", logs.String())
	}
}

// TestSecretSlackSinkReloadsAfterBackoff: a cold start whose secret load
// failed posts to Slack again once the back-off has passed.
func TestSecretSlackSinkReloadsAfterBackoff(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	var calls atomic.Int32
	sm := getSecretFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("ThrottlingException: Rate exceeded")
		}
		return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(srv.URL + "/services/T/B/x")}, nil
	})
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newSecretSlackSink("sesguard/slack", sm, slog.New(slog.NewTextHandler(io.Discard, nil)), clock)
	if err := s.Send(context.Background(), diagnosisAlert()); err != nil || posts.Load() != 0 {
		t.Fatalf("after a failed load: err %v, %d posts; want nil and 0", err, posts.Load())
	}
	if calls.Load() != 1 {
		t.Fatalf("%d loads before the back-off passed, want 1", calls.Load())
	}
	mu.Lock()
	now = now.Add(RetryBackoff)
	mu.Unlock()
	if err := s.Send(context.Background(), diagnosisAlert()); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 || posts.Load() != 1 {
		t.Fatalf("after the back-off: %d loads, %d posts; want 2 and 1", calls.Load(), posts.Load())
	}
}
