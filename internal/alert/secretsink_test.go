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
	"sync/atomic"
	"testing"

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
