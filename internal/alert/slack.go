package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Slack limits (Block Kit reference): header text 150 chars, section text
// 3000, a section holds at most 10 fields of 2000 chars each.
const (
	slackHeaderMax   = 150
	slackSectionMax  = 3000
	slackFieldMax    = 2000
	slackFieldsPer   = 10
	slackEvidenceMax = 500 // per evidence line, so one exception dump cannot crowd out the fix
)

// levelEmoji is the Slack shortcode and its Unicode twin (for RenderText).
var levelEmoji = map[Level][2]string{
	LevelOK:        {":white_check_mark:", "✅"},
	LevelInfo:      {":information_source:", "ℹ️"},
	LevelWarning:   {":warning:", "⚠️"},
	LevelCritical:  {":rotating_light:", "🚨"},
	LevelPauseRisk: {":octagonal_sign:", "🛑"},
}

func emoji(l Level, unicode bool) string {
	e, ok := levelEmoji[l]
	if !ok {
		e = levelEmoji[LevelInfo]
	}
	if unicode {
		return e[1]
	}
	return e[0]
}

// secretURL holds the webhook URL and refuses to print it.
type secretURL string

const redacted = "[redacted webhook URL]"

func (secretURL) String() string               { return redacted }
func (secretURL) GoString() string             { return redacted }
func (secretURL) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (secretURL) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// SlackSink posts alerts to a Slack incoming webhook as Block Kit messages.
type SlackSink struct {
	url    secretURL
	client *http.Client
}

// NewSlackSink returns a sink posting to webhookURL (validated with
// ValidateWebhookURL) through client; a nil client means one with a 10 s
// timeout.
func NewSlackSink(webhookURL string, client *http.Client) (*SlackSink, error) {
	if err := ValidateWebhookURL(webhookURL); err != nil {
		return nil, fmt.Errorf("alert: Slack sink: %w", err)
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &SlackSink{url: secretURL(webhookURL), client: client}, nil
}

// String, GoString and LogValue keep the webhook URL out of %v, %#v and
// slog output (fmt does not reach secretURL's methods through an unexported
// field).
func (s *SlackSink) String() string       { return "alert.SlackSink{" + redacted + "}" }
func (s *SlackSink) GoString() string     { return s.String() }
func (s *SlackSink) LogValue() slog.Value { return slog.StringValue(s.String()) }

// WebhookError is a failed webhook post. It never contains the webhook URL.
// StatusCode is the HTTP status (0 when no response arrived).
type WebhookError struct {
	StatusCode int
	msg        string
	cause      error // only errors known not to contain the URL
}

func (e *WebhookError) Error() string { return e.msg }
func (e *WebhookError) Unwrap() error { return e.cause }

// Retryable reports whether trying again later may succeed: no response,
// HTTP 429 or a 5xx.
func (e *WebhookError) Retryable() bool {
	return e.StatusCode == 0 || e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// Send posts a to the webhook.
func (s *SlackSink) Send(ctx context.Context, a Alert) error {
	err := slack.PostWebhookCustomHTTPContext(ctx, string(s.url), s.client, SlackMessage(a))
	if err != nil {
		return redactWebhookError(err, string(s.url), a)
	}
	return nil
}

// redactWebhookError rebuilds err without the URL. slack-go wraps transport
// failures in *url.Error, whose text is `Post "https://hooks.slack.com/…": …`,
// so such errors are never wrapped as such; only their text, with the URL cut
// out, survives. Status and rate-limit errors carry no URL and stay
// inspectable with errors.As; context errors stay visible to errors.Is.
func redactWebhookError(err error, rawURL string, a Alert) error {
	what := fmt.Sprintf("post %s alert %q to Slack webhook", a.Kind, a.Rule)
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return &WebhookError{StatusCode: sc.Code, msg: what + ": HTTP " + strconv.Itoa(sc.Code) + " " + sc.Status, cause: sc}
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return &WebhookError{StatusCode: http.StatusTooManyRequests, msg: what + ": " + rl.Error(), cause: rl}
	}
	text := err.Error()
	if rawURL != "" {
		text = strings.ReplaceAll(text, rawURL, redacted)
	}
	we := &WebhookError{msg: what + ": " + text}
	switch {
	case errors.Is(err, context.Canceled):
		we.cause = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		we.cause = context.DeadlineExceeded
	}
	return we
}

// mrkdwnEscape escapes the three characters Slack treats as control
// sequences in mrkdwn text.
func mrkdwnEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clip shortens s to at most max runes, marking the cut with "…".
func clip(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// field is one labelled value shown in the alert's fields.
type field struct{ name, value string }

// fields lists identity, Region, rule, scope, count and figures, in that
// order, skipping empty ones, so both renderings show the same thing.
func fields(a Alert) []field {
	var fs []field
	add := func(name, v string) {
		if v != "" {
			fs = append(fs, field{name, v})
		}
	}
	add("Identity", a.Identity)
	add("Region", a.Region)
	add("Rule", a.Rule)
	add("Scope", a.Scope)
	if n := a.count(); n > 1 {
		c := strconv.Itoa(n) + " occurrences"
		if !a.Since.IsZero() {
			c += " since " + a.Since.UTC().Format(time.RFC3339)
		}
		add("Count", c)
	}
	for _, f := range a.Figures {
		add(f.Name, f.Value)
	}
	return fs
}

// headline is the level word and kind, e.g. "CRITICAL · diagnosis".
func headline(a Alert) string {
	return strings.ToUpper(string(a.Level)) + " · " + string(a.Kind)
}

// footer is "source · time".
func footer(a Alert) string {
	var parts []string
	if a.Source != "" {
		parts = append(parts, a.Source)
	}
	if !a.Time.IsZero() {
		parts = append(parts, a.Time.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, " · ")
}

// Fallback is the notification text Slack shows where blocks cannot be
// rendered (push notifications, some clients).
func Fallback(a Alert) string {
	s := "[" + strings.ToUpper(string(a.Level)) + "] " + a.Title
	if n := a.count(); n > 1 {
		s += " (x" + strconv.Itoa(n) + ")"
	}
	if a.Summary != "" {
		s += " — " + a.Summary
	}
	return s
}

// SlackMessage renders a as a Block Kit webhook message: a header with the
// level emoji and title, a section with level and summary, fields (identity,
// Region, rule, scope, count, figures), the evidence as a list, the fix steps
// in a code block, and a context line with source and time.
func SlackMessage(a Alert) *slack.WebhookMessage {
	var blocks []slack.Block
	blocks = append(blocks, slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType,
		clip(emoji(a.Level, false)+" "+a.Title, slackHeaderMax), true, false)))

	top := "*" + mrkdwnEscape(headline(a)) + "*"
	if a.Summary != "" {
		top += "\n" + mrkdwnEscape(a.Summary)
	}
	blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, clip(top, slackSectionMax), false, false), nil, nil))

	fs := fields(a)
	for len(fs) > 0 {
		n := min(len(fs), slackFieldsPer)
		objs := make([]*slack.TextBlockObject, 0, n)
		for _, f := range fs[:n] {
			v := mrkdwnEscape(f.value)
			if f.name == "Rule" {
				v = "`" + v + "`"
			}
			objs = append(objs, slack.NewTextBlockObject(slack.MarkdownType, clip("*"+mrkdwnEscape(f.name)+"*\n"+v, slackFieldMax), false, false))
		}
		blocks = append(blocks, slack.NewSectionBlock(nil, objs, nil))
		fs = fs[n:]
	}

	if len(a.Evidence) > 0 {
		var b strings.Builder
		b.WriteString("*Evidence*")
		for _, e := range a.Evidence {
			b.WriteString("\n• " + mrkdwnEscape(clip(e, slackEvidenceMax)))
		}
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, clip(b.String(), slackSectionMax), false, false), nil, nil))
	}
	if len(a.Fix) > 0 {
		const open, close = "*Fix*\n```\n", "\n```"
		body := mrkdwnEscape(strings.Join(a.Fix, "\n"))
		body = clip(body, slackSectionMax-len(open)-len(close))
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, open+body+close, false, false), nil, nil))
	}
	if f := footer(a); f != "" {
		blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, mrkdwnEscape(f), false, false)))
	}
	return &slack.WebhookMessage{Text: Fallback(a), Blocks: &slack.Blocks{BlockSet: blocks}}
}

// RenderText renders a as plain text laid out the way Slack shows the
// SlackMessage blocks (used by the local demo and in golden files).
func RenderText(a Alert) string {
	var b strings.Builder
	b.WriteString(emoji(a.Level, true) + " " + a.Title + "\n")
	b.WriteString(headline(a) + "\n")
	if a.Summary != "" {
		b.WriteString(a.Summary + "\n")
	}
	if fs := fields(a); len(fs) > 0 {
		b.WriteString("\n")
		for _, f := range fs {
			b.WriteString(f.name + ": " + f.value + "\n")
		}
	}
	if len(a.Evidence) > 0 {
		b.WriteString("\nEvidence\n")
		for _, e := range a.Evidence {
			b.WriteString("• " + indent(clip(e, slackEvidenceMax), "  ") + "\n")
		}
	}
	if len(a.Fix) > 0 {
		b.WriteString("\nFix\n")
		for _, f := range a.Fix {
			b.WriteString("    " + indent(f, "    ") + "\n")
		}
	}
	if f := footer(a); f != "" {
		b.WriteString("\n" + f + "\n")
	}
	return b.String()
}

// indent prefixes every line of s after the first with prefix.
func indent(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}
