package ruleset

import (
	"fmt"
	"slices"
	"strings"
)

// Placeholders a summary or fix may use. Values are filled per diagnosis;
// a value that is not known renders as <name> so the step stays readable.
var placeholders = []string{
	"identity", "domain", "region", "verifiedRegion", "variant", "status",
	"configurationSet", "account", "template", "delayType", "bounceType",
	"bounceSubType", "feedbackType", "text", "sendingRegion",
	"principal", "action",
}

type segment struct {
	lit string
	key int // index into placeholders, or -1 for a literal
}

type template []segment

func parseTemplate(s string) (template, error) {
	var t template
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			if s != "" {
				t = append(t, segment{lit: s, key: -1})
			}
			return t, nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("template %q: unclosed {", s)
		}
		name := s[i+1 : i+j]
		k := slices.Index(placeholders, name)
		if k < 0 {
			return nil, fmt.Errorf("template %q: unknown placeholder {%s} (known: %s)", s, name, strings.Join(placeholders, ", "))
		}
		if i > 0 {
			t = append(t, segment{lit: s[:i], key: -1})
		}
		t = append(t, segment{key: k})
		s = s[i+j+1:]
	}
}

// friendly are the words a summary uses for a value that is not known
// (a fix step shows <name> instead, so it is obviously to be filled in).
var friendly = map[int]string{
	phVerifiedRegion: "another Region",
	phVariant:        "a differently-cased spelling",
	phStatus:         "not SUCCESS",
	phRegion:         "the sending Region",
	phIdentity:       "the address",
	phDomain:         "the domain",
	phTemplate:       "the template",
	phAccount:        "the sending account",
	phPrincipal:      "the caller",
	phAction:         "the send action",
}

func (t template) renderSummary(vals *[len(placeholdersArr)]string) string {
	var tmp [len(placeholdersArr)]string
	tmp = *vals
	for k, v := range friendly {
		if tmp[k] == "" {
			tmp[k] = v
		}
	}
	return t.render(&tmp)
}

func (t template) render(vals *[len(placeholdersArr)]string) string {
	n := 0
	for _, sg := range t {
		if sg.key < 0 {
			n += len(sg.lit)
		} else {
			n += len(vals[sg.key]) + 2 + len(placeholders[sg.key])
		}
	}
	var b strings.Builder
	b.Grow(n + 2*len(t))
	inCode := false // inside a `command`: an unknown value must not read as a shell redirection
	for i, sg := range t {
		switch {
		case sg.key < 0:
			b.WriteString(sg.lit)
			inCode = inCode != (strings.Count(sg.lit, "`")%2 == 1)
		case vals[sg.key] != "":
			b.WriteString(vals[sg.key])
		default:
			q := inCode && !quotedAround(t, i)
			if q {
				b.WriteByte('"')
			}
			b.WriteByte('<')
			b.WriteString(placeholders[sg.key])
			b.WriteByte('>')
			if q {
				b.WriteByte('"')
			}
		}
	}
	return b.String()
}

// placeholdersArr fixes the array size of template values at compile time.
var placeholdersArr [17]string

const (
	phIdentity = iota
	phDomain
	phRegion
	phVerifiedRegion
	phVariant
	phStatus
	phConfigurationSet
	phAccount
	phTemplate
	phDelayType
	phBounceType
	phBounceSubType
	phFeedbackType
	phText
	phSendingRegion
	phPrincipal
	phAction
)

// quotedAround reports whether segment i already sits inside quotes in
// the rule's text (`"{identity}"`): a placeholder is quoted once.
func quotedAround(t template, i int) bool {
	before := i > 0 && t[i-1].key < 0 && strings.HasSuffix(t[i-1].lit, "\"")
	after := i+1 < len(t) && t[i+1].key < 0 && strings.HasPrefix(t[i+1].lit, "\"")
	return before || after
}
