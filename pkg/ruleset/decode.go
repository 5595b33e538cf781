package ruleset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/sesguard/sesguard/pkg/lambdaevent"
)

// MaxInputBytes bounds one input. SNS and SQS messages are at most 256 KiB
// (SQS 1 MiB); anything larger is not a real payload and is refused before
// any parsing work.
const MaxInputBytes = 1 << 20

// MaxEmailBytes bounds one raw email (or mbox file) input: a bounce can
// carry the whole original message, up to SES's own 40 MB message limit;
// parsing is linear, so a larger bound costs only memory.
const MaxEmailBytes = 48 << 20

// maxNesting bounds how many envelopes may wrap one another (SQS body →
// SNS envelope → message).
const maxNesting = 4

// Decoded is one record of an input: a Failure, or the reason it could not
// be decoded. Source names the input and the record.
type Decoded struct {
	Source  string
	Failure *Failure
	Err     error
	// Note explains a non-failure (e.g. an SNS subscription confirmation).
	Note string
}

// wire is the union of every JSON input shape; one json.Unmarshal fills
// whichever fields the input has, and detection looks at what got filled.
type wire struct {
	Records []wireRecord `json:"Records"`

	// SNS envelope (bare, or an SQS body).
	Type         string  `json:"Type"`
	MessageID    string  `json:"MessageId"`
	TopicArn     string  `json:"TopicArn"`
	Message      *string `json:"Message"`
	SubscribeURL string  `json:"SubscribeURL"`

	// SES record at top level.
	SESEvent

	// EventBridge.
	Source     string    `json:"source"`
	DetailType string    `json:"detail-type"`
	Detail     *SESEvent `json:"detail"`

	// Failure envelope from the sending application.
	Error            *string   `json:"error"`
	Region           string    `json:"region"`
	From             string    `json:"from"`
	To               flexAddrs `json:"to"`
	Cc               flexAddrs `json:"cc"`
	Bcc              flexAddrs `json:"bcc"`
	ReturnPath       string    `json:"returnPath"`
	SourceArn        string    `json:"sourceArn"`
	ConfigurationSet string    `json:"configurationSet"`
	Transport        string    `json:"transport"`
	Account          string    `json:"account"`

	// SES receiving: a receipt rule's SNS action publishes the raw email.
	Content *string      `json:"content"`
	Receipt *wireReceipt `json:"receipt"`
}

type wireReceipt struct {
	Action struct {
		Type     string `json:"type"`
		Encoding string `json:"encoding"`
	} `json:"action"`
}

type wireRecord struct {
	EventSource string   `json:"EventSource"`
	Sns         *wireSNS `json:"Sns"`
	Body        *string  `json:"body"`
	AWSRegion   string   `json:"awsRegion"`
	MessageID   string   `json:"messageId"`
}

type wireSNS struct {
	Type      string  `json:"Type"`
	MessageID string  `json:"MessageId"`
	TopicArn  string  `json:"TopicArn"`
	Message   *string `json:"Message"`
}

// flexAddrs accepts an address list as a JSON array or a single string
// (applications send both).
type flexAddrs []string

func (f *flexAddrs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = splitAddrList(s)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("not a string or a list of strings")
	}
	*f = list
	return nil
}

func splitAddrList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Decode turns one input into its records. It never panics and never
// returns an empty slice: an input that cannot be decoded yields one
// Decoded with Err set, and each record of a batch is independent.
func Decode(data []byte, source string) []Decoded {
	if source == "" {
		source = "input"
	}
	// Most inputs are SNS or SQS events of SES records; the fast path
	// decodes those several times quicker than encoding/json, or declines.
	if out, ok := fastDecode(data, source); ok {
		return out
	}
	if len(data) > MaxInputBytes && len(data) <= MaxEmailBytes {
		if trimmed := bytes.TrimLeft(data, " \t\r\n"); looksLikeEmail(trimmed) {
			return decodeEmail(trimmed, source, hints{}, nil)
		}
	}
	return decodeAt(data, source, hints{}, 0, nil)
}

// hints carry what an outer envelope knew to the message inside it.
type hints struct {
	region string
}

func decodeAt(data []byte, source string, h hints, depth int, out []Decoded) []Decoded {
	if len(data) > MaxInputBytes {
		return append(out, Decoded{Source: source, Err: fmt.Errorf("input is %d bytes; the limit is %d", len(data), MaxInputBytes)})
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return append(out, Decoded{Source: source, Err: errors.New("empty input")})
	}
	if depth > maxNesting {
		return append(out, Decoded{Source: source, Err: fmt.Errorf("more than %d nested envelopes", maxNesting)})
	}
	if trimmed[0] != '{' && trimmed[0] != '[' {
		if looksLikeEmail(trimmed) {
			return decodeEmail(trimmed, source, h, out)
		}
		if looksLikeDSNBlock(trimmed) {
			return append(out, decodeDSNBlock(trimmed, source, h))
		}
		return append(out, decodeText(trimmed, source, h))
	}
	if !startsLikeJSON(trimmed) {
		// A log line such as "[2024-05-14 09:12:02] production.ERROR: …".
		return append(out, decodeText(trimmed, source, h))
	}
	var w wire
	if err := json.Unmarshal(trimmed, &w); err != nil {
		if bytes.Contains(trimmed, []byte(`"Records"`)) {
			// One bad record must not hide the good ones: retry record by record.
			if recs, ok := decodeRecordsOneByOne(trimmed, source, h, depth, out); ok {
				return recs
			}
		}
		return append(out, Decoded{Source: source, Err: describeJSONError(err)})
	}
	return decodeWire(&w, trimmed, source, h, depth, out)
}

// startsLikeJSON tells JSON (possibly truncated) from text that merely
// starts with a bracket.
func startsLikeJSON(b []byte) bool {
	if b[0] == '{' {
		return true
	}
	rest := bytes.TrimLeft(b[1:], " \t\r\n")
	return json.Valid(b) || len(rest) == 0 || rest[0] == '{' || rest[0] == '"'
}

// decodeRecordsOneByOne splits a Lambda event with lambdaevent.Scan, the
// reader both functions use, and decodes each record on its own.
func decodeRecordsOneByOne(data []byte, source string, h hints, depth int, out []Decoded) ([]Decoded, bool) {
	n := len(out)
	var inv lambdaevent.Invocation
	for rec := range lambdaevent.Scan(data, &inv) {
		if rec == nil { // not a Lambda event with records, or a bad key after them
			break
		}
		i := rec.Index
		src := fmt.Sprintf("%s#%d", source, i)
		var r wireRecord
		if err := json.Unmarshal(rec.Raw, &r); err != nil {
			out = append(out, Decoded{Source: src, Err: fmt.Errorf("decode record %d: %w", i, describeJSONError(err))})
			continue
		}
		out = decodeRecord(&r, src, i, h, depth, out)
	}
	return out, len(out) > n
}

func decodeWire(w *wire, raw []byte, source string, h hints, depth int, out []Decoded) []Decoded {
	switch {
	case w.Records != nil:
		if len(w.Records) == 0 {
			return append(out, Decoded{Source: source, Err: errors.New(`field "Records": empty list`)})
		}
		for i := range w.Records {
			src := source
			if len(w.Records) > 1 || depth == 0 {
				src = fmt.Sprintf("%s#%d", source, i)
			}
			out = decodeRecord(&w.Records[i], src, i, h, depth, out)
		}
		return out

	case w.Type != "" && (w.Message != nil || w.TopicArn != ""):
		return decodeSNS(w.Type, w.TopicArn, w.Message, w.SubscribeURL, source, h, depth, out)

	case w.SESEvent.Type() == EventReceived && w.Content != nil:
		return decodeReceived(w, source, h, out)

	case w.SESEvent.Type() != "": // wire.Type (the SNS field) shadows the method
		return append(out, fromSESEvent(&w.SESEvent, source, h))

	case w.Detail != nil && w.DetailType != "":
		if r := regionFromText(w.Region); r != "" {
			h.region = r
		}
		if w.Detail.Type() == "" {
			if w.Source == "aws.events" || strings.EqualFold(w.DetailType, "Scheduled Event") {
				return append(out, Decoded{Source: source, Failure: &Failure{Kind: KindNotFailure}, Note: "EventBridge scheduled event"})
			}
			return append(out, Decoded{Source: source, Err: fmt.Errorf("EventBridge event %q from %q: field \"detail\" is not an SES record", w.DetailType, w.Source)})
		}
		return append(out, fromSESEvent(w.Detail, source, h))

	case w.Error != nil:
		return append(out, fromEnvelope(w, source, h))

	case w.Message != nil:
		// {"Message": "..."} without Type: treat as a bare message wrapper.
		return decodeAt([]byte(*w.Message), source, h, depth+1, out)
	}
	if msg := logMessage(raw); msg != "" {
		// A structured log line ({"level":"error","msg":"554 …"}): its
		// message is the error text.
		return append(out, decodeText([]byte(msg), source, h))
	}
	return append(out, Decoded{Source: source, Err: fmt.Errorf("JSON of no supported shape (keys: %s)", topKeys(raw))})
}

// logKeys are the fields structured loggers (slog, zap, logrus, pino,
// winston, bunyan, structlog, Serilog, Monolog) put the message and the
// error in.
var logKeys = []string{"error", "err", "msg", "message", "exception", "error_message", "errorMessage", "reason", "detail", "@m", "@mt", "@x", "log", "stack", "stack_trace"}

// logMessage joins the string fields of a JSON log line that hold its
// message and error, or "" when it has none.
func logMessage(raw []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	var parts []string
	for _, k := range logKeys {
		v, ok := m[k]
		if !ok {
			continue
		}
		var str string
		if json.Unmarshal(v, &str) == nil && strings.TrimSpace(str) != "" {
			parts = append(parts, str)
			continue
		}
		// {"error": {"message": "…", "code": "MessageRejected"}}
		var inner map[string]json.RawMessage
		if json.Unmarshal(v, &inner) == nil {
			for _, ik := range []string{"code", "name", "message", "msg", "response"} {
				if json.Unmarshal(inner[ik], &str) == nil && strings.TrimSpace(str) != "" {
					parts = append(parts, str)
				}
			}
		}
	}
	return strings.Join(parts, ": ")
}

func decodeRecord(r *wireRecord, src string, i int, h hints, depth int, out []Decoded) []Decoded {
	switch {
	case r.Sns != nil:
		return decodeSNS(r.Sns.Type, r.Sns.TopicArn, r.Sns.Message, "", src, h, depth, out)
	case r.Body != nil:
		if rr := regionFromText(r.AWSRegion); rr != "" && h.region == "" {
			h.region = rr
		}
		return decodeAt([]byte(*r.Body), src, h, depth+1, out)
	}
	return append(out, Decoded{Source: src, Err: fmt.Errorf("record %d: neither \"Sns\" nor \"body\"", i)})
}

func decodeSNS(typ, topicArn string, msg *string, subscribeURL, source string, h hints, depth int, out []Decoded) []Decoded {
	switch typ {
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		note := "SNS " + typ
		if subscribeURL != "" {
			note += ": confirm by opening its SubscribeURL"
		}
		return append(out, Decoded{Source: source, Failure: &Failure{Kind: KindNotFailure}, Note: note})
	}
	if msg == nil {
		return append(out, Decoded{Source: source, Err: errors.New(`SNS envelope: field "Message" is missing`)})
	}
	if r := regionFromArn(topicArn); r != "" && h.region == "" {
		h.region = r
	}
	return decodeAt([]byte(*msg), source, h, depth+1, out)
}

func topKeys(raw []byte) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "not an object"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 8 {
		keys = append(keys[:8], "…")
	}
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}

// describeJSONError rewrites encoding/json's errors into "what and where".
func describeJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			return fmt.Errorf("JSON %s where an object was expected", te.Value)
		}
		return fmt.Errorf("field %q: got JSON %s, want %s", field, te.Value, jsonKind(te.Type.Kind().String()))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	if strings.Contains(err.Error(), "unexpected end of JSON input") {
		return errors.New("truncated JSON")
	}
	return fmt.Errorf("decode JSON: %w", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice":
		return "a list"
	case "struct", "map", "ptr":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return goKind
}

// decodeText reads plain text: a pasted error, a DSN line, a log line.
// Text that nothing in the rule set matches and that has nothing of a
// mail failure in it is refused by Classify, not here, so that the
// envelope path (`sesguard diagnose`) and this one classify alike.
func decodeText(text []byte, source string, h hints) Decoded {
	if !mostlyText(text) {
		return Decoded{Source: source, Err: errors.New("binary data, not text or JSON")}
	}
	f := &Failure{FromText: true}
	if utf8.Valid(text) && bytes.IndexFunc(text, isStrayControl) < 0 {
		f.Text = string(text)
	} else {
		f.Text = cleanText(text)
	}
	textFailure(f, h.region)
	return Decoded{Source: source, Failure: f}
}

// mostlyText tells text with a few stray bytes (a legacy charset's name
// in a DSN, a NUL from a broken log shipper) from binary data: at most one
// byte in ten may be a control byte or not UTF-8.
func mostlyText(b []byte) bool {
	bad, total := 0, len(b)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 || isStrayControl(r) {
			bad++
		}
		b = b[n:]
	}
	return bad*10 <= total
}

// cleanText turns the stray bytes mostlyText tolerates into spaces and
// U+FFFD.
func cleanText(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.Map(func(r rune) rune {
		if isStrayControl(r) {
			return ' '
		}
		return r
	}, s)
}

func isStrayControl(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f'
}

func fromEnvelope(w *wire, source string, h hints) Decoded {
	f := &Failure{
		Text:             *w.Error,
		From:             addrOnly(w.From),
		ReturnPath:       addrOnly(w.ReturnPath),
		To:               addrsOnly(w.To),
		Cc:               addrsOnly(w.Cc),
		Bcc:              addrsOnly(w.Bcc),
		SourceArn:        w.SourceArn,
		ConfigurationSet: w.ConfigurationSet,
		Transport:        strings.ToLower(strings.TrimSpace(w.Transport)),
		Account:          w.Account,
	}
	if strings.TrimSpace(f.Text) == "" {
		return Decoded{Source: source, Err: errors.New(`failure envelope: field "error" is empty`)}
	}
	f.Region = regionFromText(w.Region)
	if text := bytes.TrimSpace([]byte(f.Text)); looksLikeDSNBlock(text) {
		// A delivery-status block as the error: read per recipient, as
		// the plain-text path reads it.
		if r := f.Region; r != "" {
			h.region = r
		}
		return decodeDSNBlock(text, source, h)
	}
	textFailure(f, h.region)
	return Decoded{Source: source, Failure: f}
}

func fromSESEvent(e *SESEvent, source string, h hints) Decoded {
	f := &Failure{EventType: e.Type()}
	if m := e.Mail; m != nil {
		f.From = addrOnly(m.Source)
		f.To = m.Destination
		f.SourceArn = m.SourceArn
		f.Account = m.SendingAccountID
		f.MessageID = m.MessageID
		if ch := m.CommonHeaders; ch != nil {
			f.ReturnPath = addrOnly(ch.ReturnPath)
			if f.From == "" && len(ch.From) > 0 {
				f.From = addrOnly(ch.From[0])
			}
		}
		if cs := m.Tags["ses:configuration-set"]; len(cs) > 0 {
			f.ConfigurationSet = cs[0]
		}
		f.Region = regionFromArn(m.SourceArn)
	}
	if f.Region == "" {
		f.Region = h.region
	}
	switch f.EventType {
	case EventBounce:
		f.Kind = KindBounce
		if b := e.Bounce; b != nil {
			f.BounceType, f.BounceSubType = b.BounceType, b.BounceSubType
			for _, r := range b.BouncedRecipients {
				f.Recipients = append(f.Recipients, Recipient{Address: addrOnly(r.EmailAddress), Status: r.Status, Action: r.Action, DiagnosticCode: r.DiagnosticCode})
			}
		} else {
			return Decoded{Source: source, Err: errors.New(`Bounce record: field "bounce" is missing`)}
		}
	case EventComplaint:
		f.Kind = KindComplaint
		if c := e.Complaint; c != nil {
			f.ComplaintFeedbackType, f.ComplaintSubType = c.ComplaintFeedbackType, c.ComplaintSubType
			for _, r := range c.ComplainedRecipients {
				f.Recipients = append(f.Recipients, Recipient{Address: addrOnly(r.EmailAddress)})
			}
		} else {
			return Decoded{Source: source, Err: errors.New(`Complaint record: field "complaint" is missing`)}
		}
	case EventDeliveryDelay:
		f.Kind = KindDelay
		if d := e.DeliveryDelay; d != nil {
			f.DelayType = d.DelayType
			for _, r := range d.DelayedRecipients {
				f.Recipients = append(f.Recipients, Recipient{Address: addrOnly(r.EmailAddress), Status: r.Status, DiagnosticCode: r.DiagnosticCode})
			}
		} else {
			return Decoded{Source: source, Err: errors.New(`DeliveryDelay record: field "deliveryDelay" is missing`)}
		}
	case EventReject:
		f.Kind = KindReject
		if e.Reject != nil {
			f.Text = e.Reject.Reason
		}
	case EventRendering:
		f.Kind = KindRendering
		if e.Failure != nil {
			f.Text = e.Failure.ErrorMessage
			f.TemplateName = e.Failure.TemplateName
		}
	case EventReceived:
		// decodeWire reads the content of a Received notification; here
		// it had none (or came through a path that does not carry it).
		return Decoded{Source: source, Err: errReceivedNoContent}
	case EventSend, EventDelivery, EventOpen, EventClick, EventSubscription, EventSNSSubscribed:
		return Decoded{Source: source, Failure: &Failure{Kind: KindNotFailure, EventType: f.EventType, Region: f.Region}, Note: "SES " + f.EventType + " event"}
	default:
		// An SES-shaped record of a type we do not know: a failure nothing
		// matches, kept for review rather than guessed at.
		f.Kind = KindSendError
		f.Text = "SES event type " + f.EventType
	}
	return Decoded{Source: source, Failure: f}
}

func addrsOnly(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, 0, len(in))
	for _, a := range in {
		if a = addrOnly(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// addrOnly strips a display name: `Name <a@b.com>` → `a@b.com`.
func addrOnly(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			return strings.TrimSpace(s[i+1 : i+j])
		}
	}
	return strings.Trim(s, `"'`)
}

// sesIndicators are words any SES error, SMTP reply or mail log line
// contains at least one of; text with none is not a failure report.
var sesIndicators = []string{"@", "ses", "smtp", "amazon", "aws", "mail", "message", "reject", "bounce",
	"verif", "quota", "throttl", "sending", "recipient", "sender", "identity", "dkim", "spf", "dmarc",
	"tls", "connect", "timeout", "timed out", "denied", "credential", "signature", "template", "region"}

func sesLike(s string) bool {
	if len(s) > 4096 {
		s = s[:4096]
	}
	lower := strings.ToLower(s)
	for _, w := range sesIndicators {
		if strings.Contains(lower, w) {
			return true
		}
	}
	_, replies := scanCodes(lower, nil, nil)
	return len(replies) > 0
}
