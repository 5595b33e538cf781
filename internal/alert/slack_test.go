package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSlackGolden(t *testing.T) {
	for name, a := range map[string]Alert{"diagnosis": diagnosisAlert(), "rate": rateAlert()} {
		t.Run(name, func(t *testing.T) {
			blocks, err := json.MarshalIndent(SlackMessage(a), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "slack-"+name+".json", append(blocks, '\n'))
			golden(t, "text-"+name+".txt", []byte(RenderText(a)))
		})
	}
}

func TestSlackMessageContent(t *testing.T) {
	msg := SlackMessage(diagnosisAlert())
	raw, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, want := range []string{
		`"type":"header"`,
		`:rotating_light: Sender not verified`,
		"```\\nSend through the Region",
		"`reject.region-mismatch`",
		"37 occurrences since 2025-03-14T09:12:53Z",
		`\u0026lt;script\u0026gt; \u0026amp; other markup`,
		"sesguard-triage · 2025-03-14T09:26:53Z",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("Slack message lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "<script>") {
		t.Error("unescaped markup in Slack message")
	}
	if !strings.HasPrefix(msg.Text, "[CRITICAL] Sender not verified") || !strings.Contains(msg.Text, "(x37)") {
		t.Errorf("fallback text = %q", msg.Text)
	}
}

func TestSlackMessageLimits(t *testing.T) {
	a := rateAlert()
	a.Title = strings.Repeat("t", 400)
	a.Figures = nil
	for i := range 25 {
		a.Figures = append(a.Figures, Figure{Name: fmt.Sprintf("f%d", i), Value: strings.Repeat("v", 3000)})
	}
	a.Evidence = []string{strings.Repeat("e", 10000)}
	a.Fix = []string{strings.Repeat("x", 10000)}
	msg := SlackMessage(a)
	for i, b := range msg.Blocks.BlockSet {
		raw, _ := json.Marshal(b)
		var v struct {
			Type   string
			Text   *struct{ Text string }
			Fields []struct{ Text string }
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		limit := slackSectionMax
		if v.Type == "header" {
			limit = slackHeaderMax
		}
		if v.Text != nil && len([]rune(v.Text.Text)) > limit {
			t.Errorf("block %d (%s): text of %d runes > %d", i, v.Type, len([]rune(v.Text.Text)), limit)
		}
		if len(v.Fields) > slackFieldsPer {
			t.Errorf("block %d: %d fields", i, len(v.Fields))
		}
		for _, f := range v.Fields {
			if len([]rune(f.Text)) > slackFieldMax {
				t.Errorf("block %d: field of %d runes", i, len([]rune(f.Text)))
			}
		}
	}
	// 2 header/summary + 3 field sections (10+10+7 fields: region, rule, scope, 25 figures... ) + evidence + fix + context
	if got := len(msg.Blocks.BlockSet); got != 2+3+3 {
		t.Errorf("%d blocks", got)
	}
}

// webhookServer records posted bodies and answers with status and body.
func webhookServer(t *testing.T, status int, body string) (*httptest.Server, *[][]byte) {
	t.Helper()
	var got [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		got = append(got, b)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func TestSlackSinkPostsBlocks(t *testing.T) {
	srv, got := webhookServer(t, http.StatusOK, "ok")
	sink, err := NewSlackSink(srv.URL+"/services/T000/B000/XXXXSECRETXXXX", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Send(context.Background(), rateAlert()); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 1 {
		t.Fatalf("%d posts", len(*got))
	}
	var body struct {
		Text   string
		Blocks []struct {
			Type   string
			Text   *struct{ Type, Text string }
			Fields []struct{ Text string }
		}
	}
	if err := json.Unmarshal((*got)[0], &body); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body.Text, "[WARNING] Bounce rate 2.6%") {
		t.Errorf("text = %q", body.Text)
	}
	var types []string
	for _, b := range body.Blocks {
		types = append(types, b.Type)
	}
	if got, want := strings.Join(types, ","), "header,section,section,section,context"; got != want {
		t.Errorf("block types %s, want %s", got, want)
	}
	if h := body.Blocks[0].Text; h == nil || h.Type != "plain_text" || h.Text != ":warning: Bounce rate 2.6% (warning at 2%, SES review at 5%)" {
		t.Errorf("header = %+v", h)
	}
	var fields []string
	for _, f := range body.Blocks[2].Fields {
		fields = append(fields, f.Text)
	}
	wantFields := []string{"*Region*\nus-east-1", "*Rule*\n`bounce-rate`", "*Scope*\naccount", "*rate*\n2.60%", "*sample*\n4,210 sends",
		"*upper bound (95%)*\n3.11%", "*headroom to 5%*\n2.40 points (~101 bounces)", "*SES figure*\n2.4% (Reputation.BounceRate)"}
	if strings.Join(fields, "|") != strings.Join(wantFields, "|") {
		t.Errorf("fields\n got %q\nwant %q", fields, wantFields)
	}
}

func TestSlackSinkNeverLeaksURL(t *testing.T) {
	const secretPath = "/services/T0SECRET/B0SECRET/abcdefSECRETtoken"
	leaks := func(t *testing.T, s string) {
		t.Helper()
		for _, bit := range []string{"abcdefSECRETtoken", "T0SECRET", "/services/"} {
			if strings.Contains(s, bit) {
				t.Errorf("leaks %q: %s", bit, s)
			}
		}
	}

	t.Run("HTTP 500", func(t *testing.T) {
		srv, _ := webhookServer(t, http.StatusInternalServerError, "rollup_error "+secretPath)
		sink, err := NewSlackSink(srv.URL+secretPath, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		err = sink.Send(context.Background(), diagnosisAlert())
		if err == nil {
			t.Fatal("no error from HTTP 500")
		}
		leaks(t, err.Error())
		leaks(t, fmt.Sprintf("%+v %#v", err, err))
		var we *WebhookError
		if !errors.As(err, &we) || we.StatusCode != 500 || !we.Retryable() {
			t.Errorf("error %v: want *WebhookError with status 500, retryable", err)
		}
	})
	t.Run("HTTP 404 channel_not_found", func(t *testing.T) {
		srv, _ := webhookServer(t, http.StatusNotFound, "channel_not_found")
		sink, _ := NewSlackSink(srv.URL+secretPath, srv.Client())
		err := sink.Send(context.Background(), diagnosisAlert())
		var we *WebhookError
		if !errors.As(err, &we) || we.StatusCode != 404 || we.Retryable() {
			t.Errorf("error %v: want *WebhookError with status 404, not retryable", err)
		}
		leaks(t, err.Error())
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		u := srv.URL + secretPath
		srv.Close() // nothing listens any more: the transport error quotes the URL
		sink, err := NewSlackSink(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = sink.Send(context.Background(), diagnosisAlert())
		if err == nil {
			t.Fatal("no error from a closed server")
		}
		leaks(t, err.Error())
		for e := err; e != nil; e = errors.Unwrap(e) {
			leaks(t, e.Error())
		}
		if !strings.Contains(err.Error(), redacted) {
			t.Errorf("error %q does not show where the URL was cut", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		srv, _ := webhookServer(t, http.StatusOK, "ok")
		sink, _ := NewSlackSink(srv.URL+secretPath, srv.Client())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := sink.Send(ctx, diagnosisAlert())
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v is not context.Canceled", err)
		}
		leaks(t, err.Error())
	})
	t.Run("printing and logging the sink", func(t *testing.T) {
		sink, _ := NewSlackSink("https://hooks.slack.com"+secretPath, nil)
		var b strings.Builder
		slog.New(slog.NewJSONHandler(&b, nil)).Info("sink", "sink", sink, "url", sink.url)
		leaks(t, b.String())
		leaks(t, fmt.Sprintf("%v %+v %#v %s", sink, sink, sink, sink.url))
		j, _ := json.Marshal(sink)
		leaks(t, string(j))
	})
}

func TestNewSlackSinkValidates(t *testing.T) {
	for _, u := range []string{"", "http://hooks.slack.com/services/T/B/x", "hooks.slack.com/services/T/B/x", "ftp://x/y", "https:///nohost"} {
		if _, err := NewSlackSink(u, nil); err == nil {
			t.Errorf("NewSlackSink(%q) accepted", u)
		} else if u != "" && strings.Contains(err.Error(), "services/T/B/x") {
			t.Errorf("error quotes the URL: %v", err)
		}
	}
	for _, u := range []string{"https://hooks.slack.com/services/T/B/x", "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]:9/h"} {
		if _, err := NewSlackSink(u, nil); err != nil {
			t.Errorf("NewSlackSink(%q): %v", u, err)
		}
	}
}
