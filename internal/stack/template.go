package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template is a CloudFormation (or SAM) template as plain data. Intrinsic
// functions are kept in their long form: {"Ref": "X"}, {"Fn::GetAtt":
// ["X", "Arn"]}, {"Fn::Sub": "..."}. Numbers are float64, as JSON decodes
// them.
type Template struct {
	Description string               `json:"Description"`
	Transform   any                  `json:"Transform"`
	Parameters  map[string]Parameter `json:"Parameters"`
	Conditions  map[string]any       `json:"Conditions"`
	Resources   map[string]Resource  `json:"Resources"`
	Outputs     map[string]Output    `json:"Outputs"`

	// Values holds the parameter values a Resolve used; nil before.
	Values map[string]string `json:"-"`
}

// Parameter is a template parameter.
type Parameter struct {
	Type           string `json:"Type"`
	Default        any    `json:"Default"`
	AllowedValues  []any  `json:"AllowedValues"`
	AllowedPattern string `json:"AllowedPattern"`
	Description    string `json:"Description"`
}

// Resource is one entry of Resources.
type Resource struct {
	Type       string         `json:"Type"`
	Condition  string         `json:"Condition"`
	DependsOn  any            `json:"DependsOn"`
	Metadata   map[string]any `json:"Metadata"`
	Properties map[string]any `json:"Properties"`
}

// Output is one entry of Outputs.
type Output struct {
	Description string `json:"Description"`
	Value       any    `json:"Value"`
	Condition   string `json:"Condition"`
}

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load template: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load template %s: %w", path, err)
	}
	return t, nil
}

// Parse parses a YAML or JSON template, mapping short-form tags to their
// long forms.
func Parse(data []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("parse template: want one YAML document")
	}
	v, err := nodeValue(doc.Content[0])
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	// A JSON round trip turns the generic value into the typed Template.
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	var t Template
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	for id, r := range t.Resources {
		if r.Type == "" {
			return nil, fmt.Errorf("parse template: resource %s: no Type", id)
		}
	}
	return &t, nil
}

// nodeValue converts a YAML node into maps, slices and scalars, rewriting
// CloudFormation's short-form tags.
func nodeValue(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.AliasNode:
		return nodeValue(n.Alias)
	case yaml.ScalarNode:
		if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
			v = n.Value // a tagged scalar is always a string: !Ref Name
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			cv, err := nodeValue(c)
			if err != nil {
				return nil, err
			}
			list = append(list, cv)
		}
		v = list
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			cv, err := nodeValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = cv
		}
		v = m
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
	}
	return longForm(n.Tag, v), nil
}

// longForm wraps v in the long form of a short-form tag.
func longForm(tag string, v any) any {
	if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") {
		return v
	}
	name := tag[1:]
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}
	case "GetAtt":
		// !GetAtt Resource.Attribute.With.Dots: the logical ID has no dots.
		if s, ok := v.(string); ok {
			id, attr, _ := strings.Cut(s, ".")
			return map[string]any{"Fn::GetAtt": []any{id, attr}}
		}
	}
	return map[string]any{"Fn::" + name: v}
}

// Target returns the logical ID a {"Ref": ID} or {"Fn::GetAtt": [ID, Attr]}
// value points at, and the attribute ("" for Ref).
func Target(v any) (id, attr string, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", "", false
	}
	if r, isRef := m["Ref"].(string); isRef {
		return r, "", true
	}
	if ga, isGA := m["Fn::GetAtt"].([]any); isGA && len(ga) == 2 {
		id, ok1 := ga[0].(string)
		attr, ok2 := ga[1].(string)
		return id, attr, ok1 && ok2
	}
	return "", "", false
}

// Get walks a path of map keys and list indexes ("Properties", "Events", 0)
// through v.
func Get(v any, path ...any) (any, bool) {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			l, ok := v.([]any)
			if !ok || k < 0 || k >= len(l) {
				return nil, false
			}
			v = l[k]
		default:
			return nil, false
		}
	}
	return v, true
}

// Strings returns v as a list of strings: a string is a list of one.
func Strings(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		return []string{x}, true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// Number returns v as a float64 if it is a number or a numeric string.
func Number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// OfType returns the logical IDs of the resources of type typ, sorted.
func (t *Template) OfType(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}
