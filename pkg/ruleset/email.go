package ruleset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// Email input: an RFC 5322 message (a bounce, an ARF complaint, an
// auto-reply), or an mbox file of them. One Decoded per message; the
// Failure names one Recipient per failed recipient the report gives, so
// the bounce rules see the same fields as in an SES bounce record: Status,
// Action and Diagnostic-Code per recipient, bounceType from the status
// class.

// emailHeaders are the fields whose presence in a header block makes the
// input an email rather than text that happens to contain colons.
var emailHeaders = map[string]bool{
	"from": true, "to": true, "subject": true, "date": true, "message-id": true, "received": true,
	"return-path": true, "mime-version": true, "content-type": true, "delivered-to": true,
	"x-failed-recipients": true, "auto-submitted": true, "reply-to": true, "sender": true,
	"dkim-signature": true, "arc-seal": true, "authentication-results": true, "x-original-to": true,
}

// looksLikeEmail reports whether b starts as an email (or an mbox file):
// an mbox From_ line, or a header block of at least two fields of which at
// least one is a message header.
func looksLikeEmail(b []byte) bool {
	if bytes.HasPrefix(b, []byte("From ")) {
		line, _ := nextLine(b)
		return bytes.IndexByte(line, ':') > 0 || bytes.Count(line, []byte(" ")) >= 3
	}
	if len(b) > 64<<10 {
		b = b[:64<<10]
	}
	fields, _ := parseHeader(b)
	if len(fields) < 2 {
		return false
	}
	known := 0
	for _, f := range fields {
		if emailHeaders[f.name] {
			known++
		}
	}
	return known >= 1 && (known >= 2 || len(fields) >= 3)
}

// splitMbox splits an mbox file at its From_ lines. Input without one is
// a single message.
func splitMbox(b []byte) [][]byte {
	if !bytes.HasPrefix(b, []byte("From ")) {
		return [][]byte{b}
	}
	var msgs [][]byte
	start := 0
	pos := 0
	for {
		i := bytes.Index(b[pos:], []byte("\nFrom "))
		if i < 0 {
			break
		}
		i += pos
		// A From_ line follows a blank line in every mbox variant; a body
		// line starting "From " without one is content (mboxo does not
		// always quote it).
		if i > 0 && (b[i-1] == '\n' || i > 1 && b[i-1] == '\r' && b[i-2] == '\n') {
			msgs = append(msgs, b[start:i+1])
			start = i + 1
		}
		pos = i + 1
	}
	return append(msgs, b[start:])
}

// decodeEmail decodes an email or an mbox of them.
func decodeEmail(data []byte, source string, h hints, out []Decoded) []Decoded {
	msgs := splitMbox(data)
	for i, m := range msgs {
		src := source
		if len(msgs) > 1 {
			src = fmt.Sprintf("%s#%d", source, i)
		}
		out = append(out, decodeOneEmail(m, src, h))
	}
	return out
}

// mailView is what classification needs from a parsed email.
type mailView struct {
	top      *entity
	dsn      []*entity // message/delivery-status parts
	arf      *entity   // message/feedback-report
	mdn      bool      // message/disposition-notification
	orig     *entity   // the original message (or its headers)
	texts    []string  // human-readable parts, UTF-8
	htmlOnly []string  // text/html parts, used when there is no text/plain
}

func (v *mailView) walk(e *entity, inOrig bool) {
	switch {
	case e.mediaType == "message/delivery-status" || e.mediaType == "message/global-delivery-status":
		v.dsn = append(v.dsn, e)
	case e.mediaType == "message/feedback-report":
		if v.arf == nil {
			v.arf = e
		}
	case e.mediaType == "message/disposition-notification":
		v.mdn = true
	case e.inner != nil:
		if v.orig == nil {
			v.orig = e.inner
		}
	case len(e.parts) > 0:
		for _, p := range e.parts {
			v.walk(p, inOrig)
		}
	case strings.HasPrefix(e.mediaType, "multipart/"):
		// A multipart whose boundary never occurs (a boundary mistyped in
		// the header, or none written): MIME readers show the body as
		// text, and so does this (the NDR's words and addresses are in it).
		if len(v.texts) < 8 {
			v.texts = append(v.texts, e.text())
		}
	case e.mediaType == "text/plain" || e.mediaType == "text/x-aol" || e.mediaType == "text":
		if len(v.texts) < 8 && !strings.EqualFold(e.get("content-disposition"), "attachment") {
			v.texts = append(v.texts, e.text())
		}
	case e.mediaType == "text/html":
		if len(v.htmlOnly) < 4 {
			v.htmlOnly = append(v.htmlOnly, e.text())
		}
	}
}

func decodeOneEmail(raw []byte, source string, h hints) Decoded {
	top := parseEntity(raw, 0, &parseBudget{})
	if len(top.hdr) == 0 {
		return Decoded{Source: source, Err: fmt.Errorf("email: no header fields")}
	}
	v := &mailView{top: top}
	v.walk(top, false)
	// A bounce forwarded as an attachment (a gateway or filter wrapping
	// the MTA's report in its own notice: Trend Micro's "The following
	// addresses had permanent delivery errors" around a sendmail DSN):
	// the attached report is the bounce; the wrapper's To: is not the
	// recipient.
	for i := 0; i < 3 && len(v.dsn) == 0 && v.arf == nil && v.orig != nil; i++ {
		inner := &mailView{top: v.orig}
		inner.walk(v.orig, false)
		if len(inner.dsn) == 0 {
			break
		}
		top, v = v.orig, inner
	}
	human := strings.Join(v.texts, "\n")
	if strings.TrimSpace(human) == "" {
		human = strings.Join(v.htmlOnly, "\n")
	}
	// An NDR that quotes the original message inline: cut it off and
	// read its headers.
	human, inlineOrig := splitInlineOriginal(human)
	if v.orig == nil && inlineOrig != nil {
		v.orig = inlineOrig
	}

	// An SNS email subscription delivers SES notifications as JSON in the
	// body: decode that, not the email around it.
	if t := strings.TrimSpace(human); strings.HasPrefix(t, "{") && v.arf == nil && len(v.dsn) == 0 {
		// Long lines come wrapped as "!\n " (SNS email, RFC 5322 line limit).
		t = strings.ReplaceAll(strings.ReplaceAll(t, "\r\n", "\n"), "!\n ", "")
		var raw json.RawMessage
		if err := json.NewDecoder(strings.NewReader(t)).Decode(&raw); err == nil {
			if out := decodeAt(raw, source, h, 1, nil); len(out) == 1 && out[0].Err == nil {
				return out[0]
			}
		}
	}

	f := &Failure{}
	fillOriginal(f, v.orig)
	if f.Region == "" {
		f.Region = h.region
	}
	subject := decodeHeader(top.get("subject"))
	from := addrOnly(decodeHeader(top.get("from")))

	switch {
	case v.arf != nil:
		return complaintFromARF(f, v, source)
	case len(v.dsn) > 0:
		return bounceFromDSN(f, v, human, source)
	case v.mdn:
		return Decoded{Source: source, Failure: &Failure{Kind: KindNotFailure, Region: f.Region}, Note: "a read receipt (message disposition notification), not a failure"}
	}
	// An unsubscribe request mailed by Apple Mail (to a List-Unsubscribe
	// mailto:): the sender opts out, as an ARF opt-out report says.
	if strings.EqualFold(strings.TrimSpace(top.get("x-apple-unsubscribe")), "true") && from != "" {
		f.Kind, f.EventType, f.ComplaintFeedbackType = KindComplaint, EventComplaint, "opt-out"
		f.Recipients = []Recipient{{Address: from}}
		return Decoded{Source: source, Failure: f}
	}
	// Outlook.com's (Hotmail's) older complaint format: the reported
	// message attached, no feedback-report part.
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(subject)), "complaint about message from") && v.orig != nil {
		v.arf = &entity{}
		return complaintFromARF(f, v, source)
	}
	// Bounces carry Auto-Submitted: auto-replied too (Postfix, Exim): an
	// auto-reply is one whose subject says so, or that does not read as
	// a non-delivery report.
	if isAutoReply(top, subject) && (autoReplySubject(subject) || !looksLikeNDR(from, subject, human)) {
		return Decoded{Source: source, Failure: &Failure{Kind: KindNotFailure, Region: f.Region}, Note: "an auto-reply (out of office / vacation, RFC 3834), not a failure"}
	}
	if complaint := arfInline(top, human); complaint != nil {
		v.arf = complaint
		return complaintFromARF(f, v, source)
	}
	if !looksLikeNDR(from, subject, human) && top.get("x-failed-recipients") == "" {
		return Decoded{Source: source, Failure: &Failure{Kind: KindNotFailure, Region: f.Region}, Note: "an email that is not a bounce, complaint or delivery report"}
	}
	return bounceFromText(f, v, human, subject, source)
}

// fillOriginal takes the sender, SES Message-ID, configuration set and
// Region from the original message's headers.
func fillOriginal(f *Failure, orig *entity) {
	if orig == nil {
		return
	}
	f.From = addrOnly(decodeHeader(orig.get("from")))
	f.ReturnPath = addrOnly(orig.get("return-path"))
	for _, t := range parseAddrList(orig.get("to")) {
		f.To = append(f.To, t)
	}
	f.ConfigurationSet = strings.TrimSpace(orig.get("x-ses-configuration-set"))
	mid := strings.Trim(strings.TrimSpace(orig.get("message-id")), "<>")
	if local, domain, ok := strings.Cut(mid, "@"); ok && strings.HasSuffix(strings.ToLower(domain), "amazonses.com") {
		// SES's messageId is the local part of the Message-ID it sets:
		// <0100…-000000@email.amazonses.com> (us-east-1) or
		// <…@eu-west-1.amazonses.com>.
		f.MessageID = local
		if r := regionPrefix(strings.ToLower(domain)); r != "" {
			f.Region = validRegion(r)
		}
		if f.Region == "" && strings.HasPrefix(strings.ToLower(domain), "email.") {
			f.Region = "us-east-1"
		}
	}
}

func parseAddrList(v string) []string {
	if v == "" {
		return nil
	}
	if list, err := mail.ParseAddressList(decodeHeader(v)); err == nil {
		out := make([]string, 0, len(list))
		for _, a := range list {
			out = append(out, a.Address)
		}
		return out
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if a := addrOnly(p); strings.Contains(a, "@") {
			out = append(out, a)
		}
	}
	return out
}

// isAutoReply recognises RFC 3834 auto-responses and the vacation headers
// and subjects common mail systems use.
func isAutoReply(top *entity, subject string) bool {
	as := strings.ToLower(top.get("auto-submitted"))
	if strings.HasPrefix(as, "auto-replied") {
		return true
	}
	for _, h := range []string{"x-autoreply", "x-autorespond", "x-auto-response-suppress-autoreply", "x-autogenerated", "x-mail-autoreply"} {
		if v := strings.ToLower(top.get(h)); v != "" && v != "no" && v != "false" {
			if h != "x-autogenerated" || v == "reply" {
				return true
			}
		}
	}
	if strings.EqualFold(top.get("precedence"), "auto_reply") {
		return true
	}
	return autoReplySubject(subject)
}

func autoReplySubject(subject string) bool {
	s := strings.ToLower(subject)
	for _, p := range autoReplySubjects {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

var autoReplySubjects = []string{"out of office", "out of the office", "automatic reply", "auto reply", "auto-reply", "autoreply",
	"auto response", "autoresponse", "auto:", "vacation", "on vacation", "abwesenheit", "absence", "réponse automatique",
	"respuesta automática", "risposta automatica", "resposta automática", "自動応答", "自動返信", "不在", "автоответ", "自动回复"}

// ndrFromLocal are the local parts of bounce senders.
var ndrFromLocal = []string{"mailer-daemon", "postmaster", "post_master", "mail-daemon", "maildaemon", "mdaemon", "mailerdaemon", "bounce", "nobody", "root", "daemon", "double-bounce"}

// ndrSubjects are subject words of non-delivery reports.
var ndrSubjects = []string{"undeliver", "undelivered", "delivery status notification", "delivery failure", "failure notice",
	"returned mail", "mail delivery failed", "delivery has failed", "could not be delivered", "delivery problem", "non-delivery",
	"nondeliverable", "non deliverable", "delivery notification", "returned to sender", "mail system error", "failed delivery",
	"delivery report", "message not delivered", "error sending your mail", "trouble delivering", "not delivered", "mail failure", "bounce", "rejected", "warning: could not",
	"delayed mail", "delivery delayed", "unzustellbar", "nicht zustellbar", "non remis", "échec de la remise", "no se puede entregar",
	"não entregue", "配信", "送信エラー", "未送达", "退信", "не доставлено", "unable to deliver", "permanent error", "delivery final failure"}

func looksLikeNDR(from, subject, human string) bool {
	local := strings.ToLower(from)
	if i := strings.IndexByte(local, '@'); i >= 0 {
		local = local[:i]
	}
	for _, l := range ndrFromLocal {
		if local == l || strings.HasPrefix(local, l) {
			return true
		}
	}
	s := strings.ToLower(subject)
	for _, p := range ndrSubjects {
		if strings.Contains(s, p) {
			return true
		}
	}
	lh := strings.ToLower(human[:min(len(human), 4096)])
	for _, p := range ndrBodyMarkers {
		if strings.Contains(lh, p) {
			return true
		}
	}
	return false
}

var ndrBodyMarkers = []string{"could not be delivered", "couldn't be delivered", "was not delivered", "delivery has failed",
	"delivery to the following recipient", "undeliverable", "permanent error", "permanent fatal error", "i'm afraid i wasn't able to deliver",
	"this is the mail system at host", "this message was created automatically by mail delivery software", "failed permanently",
	"delivery failed", "returned to sender", "unable to deliver", "transcript of session follows"}

// origMarkers introduce the original message inside an NDR's text.
var origMarkers = []string{
	"------ this is a copy of the message, including all the headers.",
	"------ this is a copy of the message's headers.",
	"--- below this line is a copy of the message.",
	"--- enclosed are the original headers of the message.",
	"----- original message follows -----",
	"------ original message follows ------",
	"----- unsent message follows -----",
	"----- message header follows -----",
	"----- the header of the original message is following. -----",
	"original message headers:",
	"------ the original message headers ------",
	"--- the header of the original message is following. ---",
	"----- original message -----",
	"----- original message headers -----",
	"-----original message-----",
	"content of the original message",
	"below is a copy of the original message",
	"received: from",
}

// splitInlineOriginal cuts an inline copy of the original message off the
// human-readable text and parses its headers.
func splitInlineOriginal(human string) (string, *entity) {
	if human == "" {
		return human, nil
	}
	lower := asciiLower(human)
	cut := -1
	mlen := 0
	for _, m := range origMarkers {
		if i := strings.Index(lower, m); i >= 0 && (cut < 0 || i < cut) {
			cut, mlen = i, len(m)
			if m == "received: from" {
				mlen = 0
			}
		}
	}
	if cut < 0 {
		return human, nil
	}
	rest := human[cut+mlen:]
	if mlen > 0 {
		// Skip the rest of the marker line and blank lines.
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[i+1:]
		}
	}
	rest = strings.TrimLeft(rest, " \t\r\n")
	h, _ := parseHeader([]byte(rest))
	if len(h) == 0 {
		return human[:cut], nil
	}
	return human[:cut], &entity{hdr: h, mediaType: "text/plain"}
}

// dsnField returns a field's value after its type ("rfc822; a@b" → a@b).
func dsnValue(v string) string {
	if t, rest, ok := strings.Cut(v, ";"); ok && !strings.ContainsAny(t, " @") {
		return strings.TrimSpace(rest)
	}
	return strings.TrimSpace(v)
}

type dsnRecipient struct {
	final, original, action, status, diag, remoteMTA string
}

// parseDSN reads a delivery-status body: a per-message block, then one
// block per recipient, blocks separated by blank lines.
func parseDSN(body []byte) (msg []hfield, rcpts []dsnRecipient) {
	b := body
	first := true
	for len(bytes.TrimSpace(b)) > 0 && len(rcpts) < 1000 {
		// Skip blank lines between blocks.
		for len(b) > 0 {
			line, rest := nextLine(b)
			if len(bytes.TrimSpace(line)) > 0 {
				break
			}
			b = rest
		}
		fields, rest := parseHeader(b)
		if len(fields) == 0 {
			// Not a field: skip the line.
			_, rest = nextLine(b)
			b = rest
			continue
		}
		b = rest
		// Recipient blocks are separated by blank lines, but some MTAs
		// (AOL's) run them together: a second Final-Recipient, or an
		// Original-Recipient after one, starts the next recipient.
		var r dsnRecipient
		isRcpt := false
		for _, f := range fields {
			switch f.name {
			case "final-recipient", "original-recipient", "x-actual-recipient":
				if r.final != "" && (f.name == "final-recipient" || f.name == "original-recipient" && r.original != "") {
					rcpts = append(rcpts, r)
					r = dsnRecipient{}
				}
			}
			switch f.name {
			case "final-recipient":
				r.final, isRcpt = dsnValue(f.value), true
			case "original-recipient", "x-actual-recipient":
				if r.original == "" {
					r.original = dsnValue(f.value)
				}
				isRcpt = true
			case "action":
				r.action = strings.ToLower(strings.TrimSpace(f.value))
			case "status":
				r.status = strings.TrimSpace(f.value)
			case "diagnostic-code":
				r.diag = f.value
			case "remote-mta":
				r.remoteMTA = dsnValue(f.value)
			}
		}
		if isRcpt {
			rcpts = append(rcpts, r)
		} else if first {
			msg = fields
		}
		first = false
	}
	return msg, rcpts
}

// bounceFromDSN builds a Failure from RFC 3464 delivery-status parts.
func bounceFromDSN(f *Failure, v *mailView, human, source string) Decoded {
	var rcpts []dsnRecipient
	for _, p := range v.dsn {
		_, r := parseDSN([]byte(toUTF8(p.body, "")))
		rcpts = append(rcpts, r...)
	}
	if len(rcpts) == 0 {
		// A delivery-status part without recipient blocks: read the text.
		return bounceFromText(f, v, human, decodeHeader(v.top.get("subject")), source)
	}
	var failed, delayed []Recipient
	var evt *evidenceText
	statusClass := byte(0)
	for _, r := range rcpts {
		addr := addrOnly(r.final)
		if addr == "" || !strings.Contains(addr, "@") {
			if o := addrOnly(r.original); o != "" {
				addr = o
			}
		}
		if addr == "" {
			continue
		}
		rc := Recipient{Address: addr, Status: statusCode(r.status), Action: r.action, DiagnosticCode: r.diag}
		if rc.DiagnosticCode == "" || rc.Status == "" || strings.HasSuffix(rc.Status, ".0.0") {
			// No usable diagnostic: the human-readable part's lines about
			// this recipient are the evidence (many MTAs put it there).
			if evt == nil {
				evt = newEvidenceText(human)
			}
			if ev := recipientEvidence(evt, addr); ev != "" {
				rc.DiagnosticCode = strings.TrimSpace(rc.DiagnosticCode + "\n" + ev)
				// A generic x.0.0 status with the specific one in the
				// text about this recipient (OpenSMTPD, some gateways).
				if st, _ := scanCodes(ev, nil, nil); strings.HasSuffix(rc.Status, ".0.0") {
					if p := pickStatus(st); p != "" && p[0] == rc.Status[0] && !strings.HasSuffix(p, ".0.0") {
						rc.Status = p
					}
				}
			}
		}
		if rc.Status == "" {
			if st, rp := scanCodes(rc.DiagnosticCode, nil, nil); len(st) > 0 {
				rc.Status = st[0]
			} else if len(rp) > 0 && (rp[0][0] == '4' || rp[0][0] == '5') {
				rc.Status = rp[0][:1] + ".0.0"
			}
		}
		switch {
		case strings.HasPrefix(r.action, "deliver"), strings.HasPrefix(r.action, "relayed"), strings.HasPrefix(r.action, "expanded"),
			strings.HasPrefix(rc.Status, "2.") && !strings.HasPrefix(r.action, "failed"):
			// "deliverable" is what some MTAs write for delivered.
			continue
		case strings.HasPrefix(r.action, "delayed"):
			delayed = append(delayed, rc)
		default:
			failed = append(failed, rc)
			if statusClass == 0 && rc.Status != "" {
				statusClass = rc.Status[0]
			}
		}
	}
	switch {
	case len(failed) > 0:
		f.Kind, f.EventType = KindBounce, EventBounce
		f.Recipients = failed
		f.BounceType, f.BounceSubType = bounceTypeOf(statusClass)
	case len(delayed) > 0:
		f.Kind, f.EventType = KindDelay, EventDeliveryDelay
		f.Recipients = delayed
		f.DelayType = delayTypeOf(delayed[0].Status)
	default:
		return Decoded{Source: source, Failure: &Failure{Kind: KindNotFailure, Region: f.Region}, Note: "a delivery report of successful delivery (relayed, delivered or expanded), not a failure"}
	}
	return Decoded{Source: source, Failure: f}
}

// statusCode keeps the x.y.z of a Status field ("5.1.1 (user unknown)").
func statusCode(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t("); i > 0 {
		s = s[:i]
	}
	if len(s) >= 5 && (s[0] == '2' || s[0] == '4' || s[0] == '5') && s[1] == '.' {
		return s
	}
	return ""
}

func bounceTypeOf(class byte) (string, string) {
	switch class {
	case '5':
		return "Permanent", "General"
	case '4':
		return "Transient", "General"
	}
	return "Undetermined", "Undetermined"
}

// maxEvidenceText bounds the human-readable text searched for each
// recipient: a report names up to 1000 recipients, and searching all of a
// large text for each would be quadratic.
const maxEvidenceText = 64 << 10

// evidenceText is the human-readable text with its lower-case copy, made
// once per email.
type evidenceText struct{ text, lower string }

func newEvidenceText(human string) *evidenceText {
	if len(human) > maxEvidenceText {
		human = strings.ToValidUTF8(human[:maxEvidenceText], "")
	}
	return &evidenceText{text: human, lower: asciiLower(human)}
}

// asciiLower lowers ASCII letters only, so that byte offsets in the result
// are offsets in s too (strings.ToLower can change lengths).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// recipientEvidence returns the lines of an NDR's text about one
// recipient: from the line naming it up to a blank line that follows some
// text, at most a few lines (the reason is mostly on the same or the next
// lines).
func recipientEvidence(ev *evidenceText, addr string) string {
	human, lower := ev.text, ev.lower
	if human == "" {
		return ""
	}
	i := strings.Index(lower, asciiLower(addr))
	if i < 0 {
		return ""
	}
	start := strings.LastIndexByte(human[:i], '\n') + 1
	rest := human[start:]
	var b strings.Builder
	// The reason may come before the address (Domino, Exchange, Japanese
	// carriers: "… could not be delivered to:\n\n  addr"): take the
	// paragraph before when a blank line separates it and it names no
	// other address (then it would be another recipient's reason).
	if before := strings.TrimRight(human[:start], " \t\r"); strings.HasSuffix(before, "\n") {
		before = strings.TrimRight(before, " \t\r\n")
		para := before[strings.LastIndex(before, "\n\n")+1:]
		if p := strings.TrimSpace(para); p != "" && len(p) < 512 && !strings.Contains(p, "@") {
			b.WriteString(strings.Join(strings.Fields(p), " "))
		}
	}
	lines := 0
	for rest != "" && lines < 8 && b.Len() < 2048 {
		line, r, _ := strings.Cut(rest, "\n")
		rest = r
		t := strings.TrimSpace(line)
		if t == "" {
			if lines >= 2 {
				break
			}
			continue
		}
		if lines > 0 && containsOtherAddr(t, addr) && looksLikeRecipientLine(t) {
			break
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t)
		lines++
	}
	return b.String()
}

func containsOtherAddr(line, addr string) bool {
	for _, a := range addrsIn(line, 4) {
		if !strings.EqualFold(a, addr) {
			return true
		}
	}
	return false
}

// looksLikeRecipientLine: a line that starts a new recipient's block
// (an address at its start, or in angle brackets).
func looksLikeRecipientLine(t string) bool {
	t = strings.TrimLeft(t, "<\"'* -")
	at := strings.IndexByte(t, '@')
	sp := strings.IndexAny(t, " \t")
	return at > 0 && (sp < 0 || at < sp)
}

// addrsIn finds email addresses in s (at most max), in order.
func addrsIn(s string, max int) []string {
	var out []string
	for i := 0; i < len(s) && len(out) < max; i++ {
		if s[i] != '@' {
			continue
		}
		j := i
		for j > 0 && isLocalChar(s[j-1]) {
			j--
		}
		k := i + 1
		for k < len(s) && isDomainChar(s[k]) {
			k++
		}
		local, domain := s[j:i], strings.TrimRight(s[i+1:k], ".-")
		local = strings.TrimLeft(local, ".")
		if local == "" || !strings.Contains(domain, ".") && !strings.EqualFold(domain, "localhost") {
			i = k - 1
			continue
		}
		out = append(out, local+"@"+domain)
		i = k - 1
	}
	return out
}

func isLocalChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", c) >= 0
}

func isDomainChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
}

// skipAddrLine tells lines whose addresses are never the failed recipient.
func skipAddrLine(lower string) bool {
	for _, p := range []string{"message-id", "in-reply-to", "references:", "from:", "sender:", "return-path", "reply-to", "envelope-from", "mail from", "received:", "by ", "id ", "dkim", "x-", "with esmtp", "smtp.mailfrom", "header.from", "sent by", "your message", "mailer-daemon@"} {
		if strings.HasPrefix(lower, p) || p[len(p)-1] == '@' && strings.Contains(lower, p) {
			return true
		}
	}
	return false
}

// bounceFromText builds a Failure from an NDR without a delivery-status
// part: the recipients the text names (X-Failed-Recipients when there),
// each with the lines about it.
func bounceFromText(f *Failure, v *mailView, human, subject, source string) Decoded {
	exclude := map[string]bool{}
	for _, a := range []string{f.From, f.ReturnPath, addrOnly(decodeHeader(v.top.get("from"))), addrOnly(v.top.get("to")), addrOnly(v.top.get("return-path"))} {
		if a != "" {
			exclude[strings.ToLower(a)] = true
		}
	}
	var addrs []string
	seen := map[string]bool{}
	add := func(a string) {
		a = strings.Trim(a, "<>\"'.,;:()[] ")
		la := strings.ToLower(a)
		if a == "" || seen[la] || exclude[la] || !strings.Contains(a, "@") {
			return
		}
		// The daemon that sends bounces is never the failed recipient;
		// postmaster can be (mail to postmaster@ bounces too).
		switch la[:strings.IndexByte(la, '@')] {
		case "mailer-daemon", "mail-daemon", "maildaemon", "mailerdaemon", "double-bounce":
			return
		}
		seen[la] = true
		addrs = append(addrs, a)
	}
	for _, a := range parseAddrList(v.top.get("x-failed-recipients")) {
		add(a)
	}
	if len(addrs) == 0 {
		rest := human
		for rest != "" && len(addrs) < 50 {
			line, r, _ := strings.Cut(rest, "\n")
			rest = r
			t := strings.TrimSpace(line)
			if !strings.Contains(t, "@") || skipAddrLine(strings.ToLower(t)) {
				continue
			}
			for _, a := range addrsIn(t, 8) {
				add(a)
			}
		}
	}
	if len(addrs) == 0 {
		// Last resort: the original message's recipient, when it is one.
		if len(f.To) == 1 {
			add(f.To[0])
		}
	}
	text := strings.TrimSpace(human)
	if len(text) > 4096 {
		text = text[:4096]
	}
	f.Kind, f.EventType = KindBounce, EventBounce
	statusClass := byte(0)
	delayed := isDelayNotice(subject, text)
	evt := newEvidenceText(human)
	for _, a := range addrs {
		ev := recipientEvidence(evt, a)
		if !hasCode(ev) || len(ev) < len(a)+12 {
			// The reason is elsewhere in the text (before the address,
			// or in a transcript below it).
			ev = strings.TrimSpace(ev + "\n" + text)
		}
		rc := Recipient{Address: a, Action: "failed", DiagnosticCode: ev}
		if delayed {
			rc.Action = "delayed"
		}
		if st, rp := scanCodes(ev, nil, nil); len(st) > 0 {
			rc.Status = pickStatus(st)
		} else if len(rp) > 0 {
			for _, c := range rp {
				if c[0] == '4' || c[0] == '5' {
					rc.Status = c[:1] + ".0.0"
					break
				}
			}
		}
		if statusClass == 0 && rc.Status != "" {
			statusClass = rc.Status[0]
		}
		f.Recipients = append(f.Recipients, rc)
	}
	if len(f.Recipients) == 0 {
		// A bounce naming no recipient: one failure carrying the text,
		// so it is reviewed rather than lost.
		f.Text = text
		if f.Text == "" {
			f.Text = subject
		}
		f.BounceType, f.BounceSubType = bounceTypeOf(statusClassOf(f.Text))
		if delayed {
			f.Kind, f.EventType, f.DelayType = KindDelay, EventDeliveryDelay, ""
		}
		return Decoded{Source: source, Failure: f}
	}
	if delayed {
		f.Kind, f.EventType, f.DelayType = KindDelay, EventDeliveryDelay, ""
		return Decoded{Source: source, Failure: f}
	}
	if statusClass == 0 {
		// A non-delivery report that is not a delay warning is final: the
		// MTA gave up on the recipient, whatever words it used.
		statusClass = '5'
	}
	f.BounceType, f.BounceSubType = bounceTypeOf(statusClass)
	return Decoded{Source: source, Failure: f}
}

// pickStatus prefers a failure status (4.x.x/5.x.x) over 2.x.x ones.
func pickStatus(st []string) string {
	for _, s := range st {
		if s[0] == '5' || s[0] == '4' {
			return s
		}
	}
	return ""
}

// delayTypeOf gives a delayed recipient's status the SES delayType that
// means the same: x.2.2 mailbox full, x.4.x a network or routing problem.
func delayTypeOf(status string) string {
	switch {
	case statusMatches(status, "x.2.2"):
		return "MailboxFull"
	case statusMatches(status, "x.4"):
		return "TransientCommunicationFailure"
	}
	// Not SES's "General": SES did not classify this delay, and an SES
	// value here would hide the DSN's own words from the delay rules that
	// read them (delayTypes [""]).
	return ""
}

func statusClassOf(s string) byte {
	st, rp := scanCodes(s, nil, nil)
	if p := pickStatus(st); p != "" {
		return p[0]
	}
	for _, c := range rp {
		if c[0] == '4' || c[0] == '5' {
			return c[0]
		}
	}
	return 0
}

func hasCode(s string) bool {
	st, rp := scanCodes(s, nil, nil)
	return pickStatus(st) != "" || len(rp) > 0
}

// permanentWords: NDR texts without any code that still say the failure
// is final (qmail, Domino, many Japanese carriers).
func permanentWords(text string) bool {
	l := strings.ToLower(text)
	for _, p := range []string{"permanent", "could not be delivered", "couldn't be delivered", "was not delivered", "wasn't able to deliver",
		"undeliverable", "unable to deliver", "failed", "not found", "unknown", "does not exist", "rejected", "giving up"} {
		if strings.Contains(l, p) {
			return true
		}
	}
	return false
}

func isDelayNotice(subject, text string) bool {
	s := strings.ToLower(subject)
	if strings.Contains(s, "delayed") || strings.Contains(s, "delivery delay") || strings.HasPrefix(s, "warning: could not send message") || strings.Contains(s, "still being retried") {
		return true
	}
	l := strings.ToLower(text[:min(len(text), 1024)])
	return strings.Contains(l, "this is a warning message only") || strings.Contains(l, "will keep trying") || strings.Contains(l, "will continue trying") || strings.Contains(l, "will retry")
}

// complaintFromARF builds a complaint from an RFC 5965 feedback report.
func complaintFromARF(f *Failure, v *mailView, source string) Decoded {
	fields, _ := parseHeader(v.arf.body)
	rep := &entity{hdr: fields}
	ft := strings.ToLower(strings.TrimSpace(rep.get("feedback-type")))
	if ft == "" {
		ft = "abuse"
	}
	f.Kind, f.EventType = KindComplaint, EventComplaint
	f.ComplaintFeedbackType = ft
	var rcpts []string
	for _, name := range []string{"original-rcpt-to", "removal-recipient"} {
		for _, fl := range fields {
			if fl.name == name {
				if a := addrOnly(dsnValue(fl.value)); strings.Contains(a, "@") {
					rcpts = append(rcpts, a)
				}
			}
		}
		if len(rcpts) > 0 {
			break
		}
	}
	if len(rcpts) == 0 {
		rcpts = f.To
	}
	if len(rcpts) == 0 && v.orig != nil {
		if a := addrOnly(v.orig.get("delivered-to")); a != "" {
			rcpts = []string{a}
		}
	}
	seen := map[string]bool{}
	for _, a := range rcpts {
		if la := strings.ToLower(a); !seen[la] && strings.Contains(a, "@") && !strings.Contains(a, "*") {
			seen[la] = true
			f.Recipients = append(f.Recipients, Recipient{Address: a})
		}
	}
	if len(f.Recipients) == 0 {
		// Redacted recipient (ISPs mask it): the complaint still counts.
		f.Recipients = []Recipient{{Address: ""}}
	}
	return Decoded{Source: source, Failure: f}
}

// arfInline finds a feedback report sent without the multipart/report
// structure (Feedback-Type and User-Agent fields in the body, as some
// feedback loops send).
func arfInline(top *entity, human string) *entity {
	l := asciiLower(human[:min(len(human), 8192)])
	i := strings.Index(l, "feedback-type:")
	if i < 0 || !strings.Contains(l, "user-agent:") && !strings.Contains(l, "version:") {
		return nil
	}
	start := strings.LastIndexByte(human[:i], '\n') + 1
	return &entity{body: []byte(human[start:])}
}

// dsnFieldNames are RFC 3464 delivery-status fields.
var dsnFieldNames = map[string]bool{"reporting-mta": true, "final-recipient": true, "original-recipient": true,
	"action": true, "status": true, "diagnostic-code": true, "remote-mta": true, "arrival-date": true,
	"last-attempt-date": true, "x-postfix-queue-id": true, "x-postfix-sender": true, "received-from-mta": true}

// looksLikeDSNBlock reports whether b is a delivery-status block pasted on
// its own (from a bounce, or a mail log): header-shaped lines of which at
// least two are DSN fields, with a Final-Recipient among them.
func looksLikeDSNBlock(b []byte) bool {
	if len(b) > 64<<10 {
		b = b[:64<<10]
	}
	fields, _ := parseHeader(b)
	n := 0
	for _, f := range fields {
		if dsnFieldNames[f.name] {
			n++
		}
	}
	return n >= 2 && bytes.Contains(bytes.ToLower(b), []byte("final-recipient:"))
}

// decodeDSNBlock decodes a bare delivery-status block like the
// message/delivery-status part of a bounce.
func decodeDSNBlock(b []byte, source string, h hints) Decoded {
	v := &mailView{top: &entity{}, dsn: []*entity{{body: b}}}
	d := bounceFromDSN(&Failure{Region: h.region}, v, "", source)
	if d.Failure != nil && d.Failure.Kind == KindBounce && len(d.Failure.Recipients) == 0 {
		return Decoded{Source: source, Err: errors.New("delivery-status block without a Final-Recipient address")}
	}
	return d
}
