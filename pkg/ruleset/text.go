package ruleset

import (
	"strings"
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

// listAfterColon parses "a@x.com, Name <b@y.com>, c@z.com..." up to the
// end of the line, stopping at the first piece that is not an identity
// (e.g. "(Service: AmazonSimpleEmailService; ...").
func listAfterColon(s string) []string {
	if nl := strings.IndexAny(s, "\r\n"); nl >= 0 {
		s = s[:nl]
	}
	var out []string
	seen := map[string]bool{}
	for _, piece := range strings.Split(s, ",") {
		piece = strings.TrimSpace(piece)
		if piece == "" {
			continue
		}
		v := identityToken(strings.TrimSpace(addrOnlyLoose(piece)))
		if v == "" {
			break
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
		if len(out) >= 50 {
			break
		}
	}
	return out
}

// addrOnlyLoose is addrOnly that also copes with a trailing remainder
// after the closing bracket.
func addrOnlyLoose(s string) string {
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			return s[i+1 : i+j]
		}
	}
	return s
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
