package stack

import (
	"fmt"
	"maps"
	"strconv"
)

// Resolve returns the template as CloudFormation would deploy it with the
// given parameter values (unset parameters take their Default): the
// Conditions are evaluated, resources and outputs whose condition is false
// are dropped, every Fn::If is replaced by its branch and AWS::NoValue is
// removed. Other intrinsics (Ref, Fn::GetAtt, Fn::Sub) stay as they are.
func (t *Template) Resolve(params map[string]string) (*Template, error) {
	values := make(map[string]string, len(t.Parameters))
	for name, p := range t.Parameters {
		if v, ok := params[name]; ok {
			values[name] = v
			continue
		}
		if p.Default == nil {
			return nil, fmt.Errorf("resolve: parameter %s has no value and no Default", name)
		}
		values[name] = scalarString(p.Default)
	}
	for name := range params {
		if _, ok := t.Parameters[name]; !ok {
			return nil, fmt.Errorf("resolve: %s is not a parameter of the template", name)
		}
	}
	r := &resolver{t: t, values: values, conds: map[string]bool{}, busy: map[string]bool{}}
	for name := range t.Conditions {
		if _, err := r.condition(name); err != nil {
			return nil, err
		}
	}

	out := &Template{
		Description: t.Description,
		Transform:   t.Transform,
		Parameters:  t.Parameters,
		Conditions:  t.Conditions,
		Resources:   map[string]Resource{},
		Outputs:     map[string]Output{},
		Values:      values,
	}
	for id, res := range t.Resources {
		if res.Condition != "" && !r.conds[res.Condition] {
			continue
		}
		props, err := r.prune(res.Properties)
		if err != nil {
			return nil, fmt.Errorf("resolve: resource %s: %w", id, err)
		}
		res.Properties, _ = props.(map[string]any)
		out.Resources[id] = res
	}
	for id, o := range t.Outputs {
		if o.Condition != "" && !r.conds[o.Condition] {
			continue
		}
		v, err := r.prune(o.Value)
		if err != nil {
			return nil, fmt.Errorf("resolve: output %s: %w", id, err)
		}
		o.Value = v
		out.Outputs[id] = o
	}
	return out, nil
}

// Condition reports the value of a named condition in a resolved template.
func (t *Template) Condition(name string) (bool, error) {
	if t.Values == nil {
		return false, fmt.Errorf("condition %s: template not resolved", name)
	}
	r := &resolver{t: t, values: t.Values, conds: map[string]bool{}, busy: map[string]bool{}}
	return r.condition(name)
}

type resolver struct {
	t      *Template
	values map[string]string
	conds  map[string]bool
	busy   map[string]bool // cycle detection
}

func (r *resolver) condition(name string) (bool, error) {
	if v, ok := r.conds[name]; ok {
		return v, nil
	}
	def, ok := r.t.Conditions[name]
	if !ok {
		return false, fmt.Errorf("resolve: no condition %s", name)
	}
	if r.busy[name] {
		return false, fmt.Errorf("resolve: condition %s refers to itself", name)
	}
	r.busy[name] = true
	v, err := r.eval(def)
	if err != nil {
		return false, fmt.Errorf("resolve: condition %s: %w", name, err)
	}
	r.conds[name] = v
	return v, nil
}

func (r *resolver) eval(v any) (bool, error) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false, fmt.Errorf("not a condition function: %v", v)
	}
	for fn, arg := range m {
		switch fn {
		case "Condition":
			name, _ := arg.(string)
			return r.condition(name)
		case "Fn::Equals":
			l, ok := arg.([]any)
			if !ok || len(l) != 2 {
				return false, fmt.Errorf("Fn::Equals wants two values")
			}
			a, err := r.scalar(l[0])
			if err != nil {
				return false, err
			}
			b, err := r.scalar(l[1])
			if err != nil {
				return false, err
			}
			return a == b, nil
		case "Fn::Not", "Fn::And", "Fn::Or":
			l, ok := arg.([]any)
			if !ok || len(l) == 0 {
				return false, fmt.Errorf("%s wants a list of conditions", fn)
			}
			results := make([]bool, len(l))
			for i, c := range l {
				var err error
				if results[i], err = r.eval(c); err != nil {
					return false, err
				}
			}
			switch fn {
			case "Fn::Not":
				return !results[0], nil
			case "Fn::And":
				for _, b := range results {
					if !b {
						return false, nil
					}
				}
				return true, nil
			default:
				for _, b := range results {
					if b {
						return true, nil
					}
				}
				return false, nil
			}
		}
		return false, fmt.Errorf("unsupported condition function %s", fn)
	}
	panic("unreachable")
}

// scalar resolves a literal or a Ref to a parameter.
func (r *resolver) scalar(v any) (string, error) {
	if id, attr, ok := Target(v); ok && attr == "" {
		val, ok := r.values[id]
		if !ok {
			return "", fmt.Errorf("Ref %s: not a parameter", id)
		}
		return val, nil
	}
	switch v.(type) {
	case string, float64, bool:
		return scalarString(v), nil
	}
	return "", fmt.Errorf("cannot compare %v", v)
}

// noValue marks a pruned AWS::NoValue.
type noValue struct{}

func (r *resolver) prune(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if id, attr, ok := Target(x); ok && attr == "" && id == "AWS::NoValue" {
			return noValue{}, nil
		}
		if arg, ok := x["Fn::If"]; ok && len(x) == 1 {
			l, ok := arg.([]any)
			if !ok || len(l) != 3 {
				return nil, fmt.Errorf("Fn::If wants [condition, then, else]")
			}
			name, _ := l[0].(string)
			c, err := r.condition(name)
			if err != nil {
				return nil, err
			}
			if c {
				return r.prune(l[1])
			}
			return r.prune(l[2])
		}
		out := maps.Clone(x)
		for k, e := range x {
			pe, err := r.prune(e)
			if err != nil {
				return nil, err
			}
			if _, drop := pe.(noValue); drop {
				delete(out, k)
				continue
			}
			out[k] = pe
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			pe, err := r.prune(e)
			if err != nil {
				return nil, err
			}
			if _, drop := pe.(noValue); !drop {
				out = append(out, pe)
			}
		}
		return out, nil
	}
	return v, nil
}

func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}
