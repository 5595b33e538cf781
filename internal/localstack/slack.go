package localstack

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
)

// SlackReceiver stands in for a Slack incoming webhook: it keeps every
// post's body, in the order they arrived.
type SlackReceiver struct {
	srv *httptest.Server

	mu    sync.Mutex
	posts [][]byte
}

// NewSlackReceiver starts a receiver on a local port.
func NewSlackReceiver() *SlackReceiver {
	s := &SlackReceiver{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.Method != http.MethodPost {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.posts = append(s.posts, body)
		s.mu.Unlock()
		_, _ = io.WriteString(w, "ok") // what Slack answers
	}))
	return s
}

// URL is the webhook URL (a secret in production; here a local address).
func (s *SlackReceiver) URL() string { return s.srv.URL + "/services/T000LOCAL/B000LOCAL/local" }

// Posts returns the bodies received so far.
func (s *SlackReceiver) Posts() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.posts...)
}

// Close stops the receiver.
func (s *SlackReceiver) Close() { s.srv.Close() }
