package ruleset

import (
	"slices"
	"strings"
	"sync"
)

// regionFromText finds an AWS Region named in SES's text: "in region
// US-EAST-1", an SES endpoint host, or an ARN. SES prints Regions in upper
// case, so matching is case-insensitive and the result is lower case.
func regionFromText(s string) string {
	if s == "" {
		return ""
	}
	if r := validRegion(s); r != "" {
		return r
	}
	lower := strings.ToLower(s)
	for _, marker := range []string{"in region ", "email-smtp.", "email.", "arn:aws:ses:", "arn:aws:sns:", "region=", "region: ", "region "} {
		from := 0
		for {
			i := strings.Index(lower[from:], marker)
			if i < 0 {
				break
			}
			start := from + i + len(marker)
			if r := regionPrefix(lower[start:]); r != "" {
				return r
			}
			from = start
		}
	}
	return ""
}

func regionFromArn(arn string) string {
	// arn:partition:service:region:account:resource
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 5 || parts[0] != "arn" {
		return ""
	}
	return validRegion(parts[3])
}

// validRegion returns s normalised when s as a whole is a Region name.
func validRegion(s string) string {
	s = NormaliseRegion(s)
	if r := regionPrefix(s); r != "" && len(r) == len(s) {
		return r
	}
	return ""
}

// regionPrefix returns the Region name that s starts with, e.g.
// "us-east-1: foo" → "us-east-1". Shape: letters-(gov-)letters-digits.
func regionPrefix(s string) string {
	s = strings.TrimLeft(s, " \"'")
	i := 0
	letters := func() int {
		n := 0
		for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z') {
			i++
			n++
		}
		return n
	}
	if letters() != 2 || i >= len(s) || s[i] != '-' {
		return ""
	}
	i++
	if n := letters(); n < 2 || i >= len(s) || s[i] != '-' {
		return ""
	}
	i++
	// Look at the next few bytes only: lower-casing the rest of s here
	// made a text of many region-shaped words quadratic.
	next := s[i-1 : min(len(s), i+4)]
	if hasPrefixFold(next, "-gov-") || hasPrefixFold(next, "-iso") {
		// us-gov-west-1 style: one more word.
		if n := letters(); n < 2 || i >= len(s) || s[i] != '-' {
			return ""
		}
		i++
	}
	d := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		d++
	}
	if d == 0 || d > 2 {
		return ""
	}
	if i < len(s) {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			return ""
		}
	}
	return strings.ToLower(s[:i])
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// transportFromText guesses how the error reached the application.
func transportFromText(s string) string {
	t := strings.TrimSpace(s)
	if len(t) >= 4 && (t[0] == '4' || t[0] == '5') && isDigit(t[1]) && isDigit(t[2]) && (t[3] == ' ' || t[3] == '-') {
		return "smtp"
	}
	lower := strings.ToLower(s)
	switch {
	case strings.Contains(lower, "smtp"):
		return "smtp"
	case strings.Contains(lower, "operation error ses"), strings.Contains(lower, "<errorresponse"),
		strings.Contains(lower, "amazonsimpleemailservice"), strings.Contains(lower, "botocore"),
		strings.Contains(lower, "sesv2client"), strings.Contains(lower, "sesclient"), strings.Contains(lower, "aws-sdk"):
		return "api"
	}
	return ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// identitiesFromText extracts the failing identities SES names, in order,
// and decides each one's role from the envelope fields of f.
func identitiesFromText(s string, f *Failure) []Identity {
	var vals []string
	lower := strings.ToLower(s)
	if i := strings.Index(lower, "failed the check in region"); i >= 0 {
		rest := s[i+len("failed the check in region"):]
		if c := strings.IndexByte(rest, ':'); c >= 0 {
			vals = listAfterColon(rest[c+1:])
		}
	}
	if len(vals) == 0 {
		if i := strings.Index(lower, ":identity/"); i >= 0 {
			if v := identityToken(s[i+len(":identity/"):]); v != "" {
				vals = append(vals, v)
			}
		}
	}
	if len(vals) == 0 {
		vals = angleAddrs(s)
	}
	if len(vals) == 0 && f.From != "" {
		vals = []string{f.From}
	}
	out := make([]Identity, 0, len(vals))
	for _, v := range vals {
		out = append(out, Identity{Value: v, Role: roleOf(v, f)})
	}
	return out
}

// listAfterColon parses "a@x.com, Name <b@y.com>, c@z.com..." — the list
// may continue on the next line, as loggers wrap it — stopping at the
// first piece that is not an identity (e.g. "(Service:
// AmazonSimpleEmailService; ..."). Commas inside quotes or angle brackets
// do not split ("Doe, Jane" <jane@example.com>).
func listAfterColon(s string) []string {
	var out []string
	for len(s) > 0 && len(out) < 50 {
		end := pieceEnd(s)
		piece := strings.TrimSpace(s[:end])
		if end < len(s) {
			s = s[end+1:]
		} else {
			s = ""
		}
		if piece == "" {
			continue
		}
		v := pieceIdentity(piece)
		if v == "" {
			break
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// pieceEnd returns the index of the comma ending the first list piece of
// s (len(s) if none), skipping commas in quotes and angle brackets.
func pieceEnd(s string) int {
	quote, angle := false, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quote = !quote
		case '<':
			angle = true
		case '>':
			angle = false
		case ',':
			if !quote && !angle {
				return i
			}
		}
		if i > 512 {
			// No identity is that long: stop looking for its end.
			return i
		}
	}
	return len(s)
}

// pieceIdentity returns the identity one list piece names: the address in
// angle brackets after a display name or unexpanded template text
// ("{{name}} <a@b.com>", "=?UTF-8?B?…?= <a@b.com>"), else the piece's
// first word when it is an address or a domain.
func pieceIdentity(piece string) string {
	if i := strings.IndexByte(piece, '<'); i >= 0 {
		if j := strings.IndexByte(piece[i:], '>'); j > 0 {
			if v := identityToken(strings.TrimSpace(piece[i+1 : i+j])); v != "" {
				return v
			}
		}
	}
	return identityToken(strings.TrimLeft(piece, "\"'"))
}

// identityToken returns the address or domain s starts with, trimmed of
// trailing punctuation, or "" when s does not start with one.
func identityToken(s string) string {
	end := 0
	for end < len(s) && !isIdentityStop(s[end]) {
		end++
	}
	tok := strings.TrimRight(s[:end], ".…")
	tok = strings.TrimSuffix(tok, "...")
	tok = strings.TrimRight(tok, ".")
	if tok == "" {
		return ""
	}
	at := strings.LastIndexByte(tok, '@')
	domain := tok
	if at >= 0 {
		if at == 0 {
			return ""
		}
		domain = tok[at+1:]
	}
	if domain == "" {
		// "root@" — still an identity, a bare local part SES rejected.
		if at > 0 {
			return tok
		}
		return ""
	}
	if at < 0 && !strings.Contains(domain, ".") {
		return ""
	}
	for i := 0; i < len(domain); i++ {
		c := domain[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c >= 0x80) {
			return ""
		}
	}
	return tok
}

func isIdentityStop(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', ';', '<', '>', '"', '\'', '(', ')', '[', ']', '{', '}', '\\':
		return true
	}
	return false
}

// angleAddrs returns addresses written as <a@b> in s.
func angleAddrs(s string) []string {
	var out []string
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return out
		}
		inner := s[i+1 : i+j]
		if strings.Contains(inner, "@") && !strings.ContainsAny(inner, " \t/") {
			if v := identityToken(inner); v != "" {
				out = append(out, v)
			}
		}
		s = s[i+j:]
		if len(out) >= 10 {
			return out
		}
	}
}

// roleOf decides an identity's role from the envelope fields.
func roleOf(v string, f *Failure) Role {
	switch {
	case f.From != "" && (strings.EqualFold(v, f.From) || strings.EqualFold(v, domainOf(f.From))):
		return RoleSender
	case f.ReturnPath != "" && strings.EqualFold(v, f.ReturnPath):
		return RoleReturnPath
	}
	for _, list := range [][]string{f.To, f.Cc, f.Bcc} {
		for _, a := range list {
			if strings.EqualFold(v, a) {
				return RoleRecipient
			}
		}
	}
	return RoleUnknown
}

// domainOf returns the domain of an address, or s itself for a domain.
func domainOf(s string) string {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// scanCodes finds RFC 3463 enhanced status codes (x.y.z) and SMTP reply
// codes (three digits starting 2-5 followed by space or dash) in s,
// appending to the given slices. It is a hand-written scanner because it
// runs on every bounce.
func scanCodes(s string, statuses, replies []string) ([]string, []string) {
	n := len(s)
	for i := 0; i < n; i++ {
		c := s[i]
		if c < '2' || c > '5' {
			continue
		}
		if i > 0 && (isDigit(s[i-1]) || s[i-1] == '.') {
			continue
		}
		// enhanced status: d.d{1,3}.d{1,3}
		if i+4 < n+0 && i+1 < n && s[i+1] == '.' {
			j := i + 2
			k := j
			for k < n && isDigit(s[k]) && k-j < 3 {
				k++
			}
			if k > j && k < n && s[k] == '.' {
				m := k + 1
				e := m
				for e < n && isDigit(s[e]) && e-m < 3 {
					e++
				}
				if e > m && (e == n || !isDigit(s[e]) && s[e] != '.') {
					if len(statuses) < 16 {
						statuses = append(statuses, s[i:e])
					}
					i = e - 1
					continue
				}
			}
		}
		// reply code: ddd followed by space, dash or end
		if i+2 < n && isDigit(s[i+1]) && isDigit(s[i+2]) && (i+3 == n || s[i+3] == ' ' || s[i+3] == '-') {
			if len(replies) < 16 {
				replies = append(replies, s[i:i+3])
			}
			i += 2
		}
	}
	return statuses, replies
}

// normaliseText makes the many layouts of one error text read alike, in one
// pass (linear in the input): JSON string escapes of a log line are
// undone (\n, \", \u003c…), a Python bytes reply "(550, b'5.1.1 …')"
// becomes "550 5.1.1 …", and every run of white space — RFC 5322 header
// folding, a logger's wrapped lines, indentation — becomes one space.
func normaliseText(s string) string {
	if !needsNormalising(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false // a space is pending
	emit := func(c byte) {
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(c)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v':
			space = true
			continue
		case c == 0xc2 && i+1 < len(s) && s[i+1] == 0xa0: // U+00A0 no-break space
			space = true
			i++
			continue
		case c == '\\' && i+1 < len(s):
			switch s[i+1] {
			case 'n', 'r', 't':
				space = true
				i++
				continue
			case '"', '\\', '/', '\'':
				emit(s[i+1])
				i++
				continue
			case 'u':
				if r, ok := hexRune4(s, i+2); ok {
					if r < 0x80 {
						if r == '\n' || r == '\r' || r == '\t' || r == ' ' {
							space = true
						} else {
							emit(byte(r))
						}
					} else {
						if space && b.Len() > 0 {
							b.WriteByte(' ')
						}
						space = false
						b.WriteRune(r)
					}
					i += 5
					continue
				}
			}
		case c == '&' && i+3 < len(s):
			// XML/HTML entities of an SES Query API error body quoted in
			// a log: "Sendportal &lt;a@b.com&gt;".
			if r, n := xmlEntity(s[i:min(len(s), i+6)]); n > 0 {
				emit(r)
				i += n - 1
				continue
			}
		case c == '(' && i+6 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) && s[i+4] == ',':
			// Python smtplib: (550, b'5.1.1 <bob@example.org>: …')
			j := i + 5
			for j < len(s) && s[j] == ' ' {
				j++
			}
			if j < len(s) && s[j] == 'b' {
				j++
			}
			if j < len(s) && (s[j] == '\'' || s[j] == '"') {
				emit(s[i+1])
				b.WriteString(s[i+2 : i+4])
				space = true
				i = j
				continue
			}
		}
		emit(c)
	}
	return b.String()
}

func needsNormalising(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\t', '\r', '\n', '\f', '\v', '\\', '(', '&', 0xc2:
			return true
		case ' ':
			if i+1 < len(s) && s[i+1] == ' ' || i == 0 {
				return true
			}
		}
	}
	return len(s) > 0 && s[len(s)-1] == ' '
}

// xmlEntity decodes the five XML entities at the start of s.
func xmlEntity(s string) (byte, int) {
	for _, e := range [...]struct {
		name string
		c    byte
	}{{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}, {"&#39;", '\''}} {
		if strings.HasPrefix(s, e.name) {
			return e.c, len(e.name)
		}
	}
	return 0, 0
}

func hexRune4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	if r >= 0xd800 && r < 0xe000 {
		return 0xfffd, true // a lone surrogate half: not worth pairing here
	}
	return r, true
}

// sesMarkers are words only SES, its SDKs or its documented SMTP replies
// write (S-DG troubleshoot-smtp.md, the SDKs' exception names): text with
// one is, at least also, an error the sending application got from SES.
var sesMarkers = []string{"amazonaws", "amazon ses", "amazon simple email", "simpleemail", "ses:", "sesv2",
	"aws sdk", "aws-sdk", "aws http", "aws:", "aws.", "aws/", "aws_", "@aws", "botocore", "boto3", "email-smtp.", "messagerejected", "message rejected: email address", "message rejected: sending", "email address is not verified",
	"identities failed the check", "throttling failure", "maximum sending rate", "daily message quota",
	"temporary service failure", "temporary authentication failure", "timeout waiting for data from client",
	"too many concurrent smtp connections", "authentication credentials invalid", "account not subscribed",
	"message is too long", "access denied: user", "is not authorized to perform", "transaction failed",
	"sending suspended", "sending paused", "sendingpaused", "configuration set", "configurationset",
	"mail from domain", "mailfromdomain", "invalidparametervalue", "illegal address", "missing final '@domain'",
	"local address contains", "message length is more than", "requestid", "request id", "signaturedoesnotmatch",
	"invalidclienttokenid", "accountsuspended", "rendering data", "templatedoesnotexist", "template does not exist", "templatename"}

// dsnMarkers are words of a receiving server's reply or a delivery status
// notification (RFC 3464 fields, Postfix/Exim/sendmail/qmail log and
// bounce wording, Exchange and Gmail reply trailers).
var dsnMarkers = []string{"resolver.", "storedrv.", "diagnostic-code", "final-recipient", "original-recipient", "remote-mta", "reporting-mta",
	" said: ", "said:", "in reply to rcpt to", "in reply to end of data", "in reply to mail from", "in reply to data",
	"in reply to rcpt", "dsn=", "status=bounced", "status=deferred", "status=undeliverable", "remote host said",
	"smtp error from remote mail server", "remote server returned", "the following address(es) failed",
	"following recipient", "could not be delivered", "undeliverable", "delivery has failed", "delivery failed",
	"mail delivery failed", "returned mail", "gsmtp", "protection.outlook.com", "prod.outlook.com",
	"recipient address rejected", "mailbox unavailable", "user unknown", "unknown user", "no such user",
	"mailbox full", "mailbox is full", "over quota", "quota exceeded", "blocked using", "spamhaus", "rcpt to",
	"host unknown", "relay access denied", "relaying denied", "mailer-daemon", "postmaster", "550-", "554-", "552-", "421-", "451-", "450-", "452-",
	"unable to deliver", "wasn't delivered", "was not delivered", "message not delivered", "address not found",
	"address couldn't be found", "delivery status notification", "permanent error", "permanent delivery error",
	"had delivery problems", "giving up", "could not deliver", "qmail-send program", "mail delivery system",
	"mail delivery software", "mail delivery subsystem", "this is the mail system at host", "non-delivery", "undelivered mail"}

// dsnFields are RFC 3464's per-message and per-recipient fields, the
// diagnostic types that open a Diagnostic-Code value ("smtp; 550 …"), and
// the opening of SES's own forwarded bounce: text with one is a delivery
// status notification, even when it names SES (its Reporting-MTA does).
var dsnFields = []string{"smtp;", "x-unix;", "x-postfix;", "x-notes;", "x-local;", "x-outbound-mail-relay;", "reporting-mta:", "final-recipient:", "original-recipient:", "diagnostic-code:", "remote-mta:",
	"action: failed", "an error occurred while trying to deliver the mail"}

// deferMarkers say the receiving side will be tried again: a delay, not
// a bounce.
var deferMarkers = []string{"status=deferred", "action: delayed", "action:delayed", "will retry", "will be retried",
	"delivery delayed", "delivery is delayed", "delivery has been delayed", "message delayed", "still trying"}

// inferTextKind decides what a text reports: an SES send error, a
// receiving server's DSN (a bounce, or a delay when it will be retried),
// or both (then the second kind's rules compete too). lower is the
// normalised, lower-cased text; statuses and replies its codes.
func inferTextKind(lower string, statuses, replies []string, sesHint bool) (kind, alt Kind) {
	m := markers()
	found := make([]uint64, m.words())
	m.match(lower, found)
	ses := m.any(found, markerSES)
	strong := m.any(found, markerDSN)
	weak := false
	for _, st := range statuses {
		if st[0] == '4' || st[0] == '5' {
			weak = true
		}
	}
	for _, r := range replies {
		if r[0] == '4' || r[0] == '5' {
			weak = true
		}
	}
	dk := KindBounce
	if m.any(found, markerDefer) {
		dk = KindDelay
	}
	switch {
	case m.any(found, markerField):
		return dk, KindSendError
	case ses && strong:
		// A relay's log of SES's reply, or SES's reply quoting a receiver.
		return KindSendError, dk
	case ses:
		return KindSendError, ""
	case sesHint:
		// The sender says it came from SES (a failure envelope's
		// transport) but the text is a receiver's: the application relays
		// through SES or quotes a DSN. Both readings compete.
		return KindSendError, dk
	case strong:
		return dk, ""
	case weak:
		return dk, KindSendError
	}
	// Nothing says which side wrote it: an error text of the application's
	// ("Illegal address", "Connection timed out") or a receiver's words
	// without a code ("The email account that you tried to reach does not
	// exist."). Both readings compete.
	return KindSendError, dk
}

// The marker groups, matched together in one pass over the text
// (one Aho-Corasick automaton, as for the rules' phrases): a text of a
// megabyte is read once, not once per marker.
const (
	markerSES = iota
	markerDSN
	markerField
	markerDefer
)

type markerSet struct {
	*phraseMatcher
	group []int // group of each phrase ID
}

var markers = sync.OnceValue(func() *markerSet {
	var all []string
	var group []int
	for g, list := range [][]string{sesMarkers, dsnMarkers, dsnFields, deferMarkers} {
		for _, w := range list {
			all = append(all, strings.ToLower(w))
			group = append(group, g)
		}
	}
	return &markerSet{newPhraseMatcher(all), group}
})

// any reports whether a marker of group g was found.
func (m *markerSet) any(found []uint64, g int) bool {
	for id, gg := range m.group {
		if gg == g && has(found, int32(id)) {
			return true
		}
	}
	return false
}

// dsnBounceType reads a DSN's class: the enhanced status code's class
// (RFC 3463) where there is one, else the reply code's.
func dsnBounceType(statuses, replies []string) string {
	var c byte
	for _, st := range statuses {
		if st[0] == '4' || st[0] == '5' {
			c = st[0]
			break
		}
	}
	if c == 0 {
		for _, r := range replies {
			if r[0] == '4' || r[0] == '5' {
				c = r[0]
				break
			}
		}
	}
	switch c {
	case '5':
		return "Permanent"
	case '4':
		return "Transient"
	}
	return ""
}

// dsnRecipients finds the recipients a DSN text names: its
// Final-Recipient fields, else a mail log's to=<…>, else addresses in
// angle brackets or bare, skipping the sender (from=<…>), Message-IDs and
// the reporting system's own mailboxes. At most 10, in order.
func dsnRecipients(s, lower string) []string {
	var out []string
	add := func(v string) {
		v = strings.Trim(v, ".:;,'\"")
		if v == "" || !strings.Contains(v, "@") || len(out) >= 10 {
			return
		}
		local := strings.ToLower(v[:strings.LastIndexByte(v, '@')])
		switch local {
		case "mailer-daemon", "postmaster", "abuse", "hostmaster", "noc", "":
			// The reporting system's own mailboxes, never the recipient.
			return
		}
		for _, o := range out {
			if strings.EqualFold(o, v) {
				return
			}
		}
		out = append(out, v)
	}
	for _, field := range []string{"final-recipient:", "original-recipient:", "to=<"} {
		from := 0
		for len(out) < 10 {
			i := strings.Index(lower[from:], field)
			if i < 0 {
				break
			}
			start := from + i + len(field)
			rest := s[start:min(len(s), start+320)]
			if j := strings.IndexByte(rest, ';'); j >= 0 && field != "to=<" && j < 16 {
				rest = rest[j+1:]
			}
			add(identityToken(strings.TrimLeft(rest, " <")))
			from = start
		}
		if len(out) > 0 {
			return out
		}
	}
	// Angle-bracket addresses not preceded by from= or a Message-ID field.
	from := 0
	for len(out) < 10 {
		i := strings.IndexByte(s[from:], '<')
		if i < 0 {
			break
		}
		i += from
		j := strings.IndexByte(s[i:min(len(s), i+320)], '>')
		if j < 0 {
			from = i + 1
			continue
		}
		inner := s[i+1 : i+j]
		before := lower[max(0, i-16):i]
		if strings.Contains(inner, "@") && !strings.Contains(before, "from=") && !strings.Contains(before, "message-id") && !strings.Contains(before, "mail from") {
			add(identityToken(inner))
		}
		from = i + j
	}
	if len(out) > 0 {
		return out
	}
	// A bare address: "mailbox user@example.org is over quota".
	for i := 0; i < len(s) && len(out) == 0; {
		at := strings.IndexByte(s[i:], '@')
		if at < 0 {
			break
		}
		at += i
		st := at
		for st > 0 && !isIdentityStop(s[st-1]) && at-st < 64 {
			st--
		}
		before := lower[max(0, st-16):st]
		if !strings.Contains(before, "from=") && !strings.Contains(before, "message-id") && !strings.Contains(before, "contact") {
			add(identityToken(s[st:]))
		}
		i = at + 1
	}
	return out
}

// fieldValue returns the first word after a header-like field name in s
// (lower is s lower-cased), or "".
func fieldValue(s, lower, field string) string {
	i := strings.Index(lower, field)
	if i < 0 {
		return ""
	}
	rest := strings.TrimLeft(s[i+len(field):min(len(s), i+len(field)+320)], " \t")
	if j := strings.IndexAny(rest, " \t\r\n"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// textFailure completes a failure whose Text is plain text (a pasted
// error, a log line, the "error" of a failure envelope): the text is
// normalised, its kind inferred, and its Region, transport, failing
// identities or bounced recipients read from it. Both the plain-text path
// and the envelope path (and so `sesguard classify` and `diagnose`) go
// through here.
func textFailure(f *Failure, hintRegion string) {
	f.Text = normaliseText(f.Text)
	lower := strings.ToLower(f.Text)
	f.lower, f.lowerOf = lower, f.Text
	statuses, replies := scanCodes(lower, nil, nil)
	f.Kind, f.AltKind = inferTextKind(lower, statuses, replies, f.Transport != "")
	if f.Region == "" {
		f.Region = regionFromText(f.Text)
	}
	if f.Region == "" {
		f.Region = regionFromArn(f.SourceArn)
	}
	if f.Region == "" {
		f.Region = hintRegion
	}
	if f.Transport == "" {
		f.Transport = transportFromText(f.Text)
	}
	if fb := fieldValue(f.Text, lower, "feedback-type:"); fb != "" {
		// An ARF report (RFC 5965) pasted as text: a complaint about the
		// original recipient.
		f.Kind, f.AltKind = KindComplaint, ""
		f.ComplaintFeedbackType = strings.ToLower(strings.Trim(fb, ".;,"))
		rc := fieldValue(f.Text, lower, "original-rcpt-to:")
		if rc == "" {
			rc = fieldValue(f.Text, lower, "removal-recipient:")
		}
		f.Recipients = []Recipient{{Address: strings.Trim(rc, "<>")}}
		return
	}
	f.BounceType = dsnBounceType(statuses, replies)
	if f.Kind == KindSendError {
		f.Identities = identitiesFromText(f.Text, f)
		return
	}
	rcpts := dsnRecipients(f.Text, lower)
	if len(rcpts) == 0 {
		for _, list := range [][]string{f.To, f.Cc, f.Bcc} {
			rcpts = append(rcpts, list...)
		}
	}
	if len(rcpts) == 0 {
		rcpts = []string{""}
	}
	for _, a := range rcpts {
		f.Recipients = append(f.Recipients, Recipient{Address: a})
	}
}
