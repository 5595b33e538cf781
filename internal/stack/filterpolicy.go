package stack

import (
	"encoding/json"
	"fmt"
	"sort"
)

// FilterPolicy is an SNS subscription filter policy.
//
// Match and Validate implement the part of SNS's filter-policy language
// that sesguard's template uses: exact string, number, boolean and null
// values (a list is an OR), nested keys for MessageBody scope, and "$or".
// Operators such as prefix, anything-but or numeric are reported as
// unsupported rather than guessed at.
type FilterPolicy map[string]any

// Validate reports the first construct Match does not support.
func (p FilterPolicy) Validate() error { return validatePolicy(p, "") }

func validatePolicy(p map[string]any, at string) error {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		path := at + "/" + k
		switch v := p[k].(type) {
		case map[string]any:
			if err := validatePolicy(v, path); err != nil {
				return err
			}
		case []any:
			if k == "$or" {
				for i, alt := range v {
					m, ok := alt.(map[string]any)
					if !ok {
						return fmt.Errorf("filter policy %s[%d]: not an object", path, i)
					}
					if err := validatePolicy(m, fmt.Sprintf("%s[%d]", path, i)); err != nil {
						return err
					}
				}
				continue
			}
			for i, e := range v {
				switch e.(type) {
				case string, float64, bool, nil:
				default:
					return fmt.Errorf("filter policy %s[%d]: operator %v is not supported", path, i, e)
				}
			}
		default:
			return fmt.Errorf("filter policy %s: want a list of values or a nested object", path)
		}
	}
	return nil
}

// Match reports whether a JSON message body passes the policy (scope
// MessageBody). A body that is not a JSON object never passes, as in SNS.
func (p FilterPolicy) Match(body []byte) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return false, nil
	}
	return matchObject(p, doc), nil
}

// MatchAttributes reports whether message attributes (name to string
// value) pass the policy (scope MessageAttributes).
func (p FilterPolicy) MatchAttributes(attrs map[string]string) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	doc := make(map[string]any, len(attrs))
	for k, v := range attrs {
		doc[k] = v
	}
	return matchObject(p, doc), nil
}

func matchObject(p map[string]any, doc map[string]any) bool {
	for k, want := range p {
		if k == "$or" {
			alts, _ := want.([]any)
			matched := false
			for _, alt := range alts {
				if m, ok := alt.(map[string]any); ok && matchObject(m, doc) {
					matched = true
					break
				}
			}
			if !matched {
				return false
			}
			continue
		}
		got, ok := doc[k]
		if !ok {
			return false
		}
		switch w := want.(type) {
		case map[string]any:
			sub, ok := got.(map[string]any)
			if !ok || !matchObject(w, sub) {
				return false
			}
		case []any:
			if !matchValues(w, got) {
				return false
			}
		}
	}
	return true
}

// matchValues: any wanted value equals the body value, or, for an array
// in the body, any of its elements.
func matchValues(want []any, got any) bool {
	candidates := []any{got}
	if arr, ok := got.([]any); ok {
		candidates = arr
	}
	for _, w := range want {
		for _, g := range candidates {
			if w == g {
				return true
			}
		}
	}
	return false
}
