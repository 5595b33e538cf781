package stack

import (
	"fmt"
	"sort"
)

// Resource types the topology reads.
const (
	TypeFunction     = "AWS::Serverless::Function"
	TypeTopic        = "AWS::SNS::Topic"
	TypeQueue        = "AWS::SQS::Queue"
	TypeSubscription = "AWS::SNS::Subscription"
)

// Function is a SAM function with its environment.
type Function struct {
	ID string
	// Env maps each variable to its template value: a string or an
	// unresolved intrinsic.
	Env map[string]any
	// Role is the logical ID of the function's IAM role ("" if SAM makes one).
	Role string
}

// Queue is an SQS queue.
type Queue struct {
	ID                string
	DeadLetterQueue   string // logical ID from RedrivePolicy, or ""
	MaxReceiveCount   int
	VisibilityTimeout int // seconds; 0 when unset (SQS's default is 30)
}

// Subscription is an SNS subscription, declared either as an
// AWS::SNS::Subscription or as a function's SNS event.
type Subscription struct {
	Name     string // logical ID, or "Function.Event" for a SAM event
	Topic    string // logical ID of the topic
	Protocol string // lambda, sqs, email, ...
	// Endpoint is the logical ID of the function or queue; for other
	// protocols the endpoint value as written.
	Endpoint           any
	FilterPolicy       FilterPolicy // nil: everything passes
	FilterPolicyScope  string       // MessageAttributes (SNS's default) or MessageBody
	RawMessageDelivery bool
	DeadLetterQueue    string // logical ID from RedrivePolicy, or ""
}

// QueueSource is a function's SQS event source.
type QueueSource struct {
	Name                    string // "Function.Event"
	Queue                   string // logical ID
	Function                string // logical ID
	BatchSize               int
	BatchingWindowSeconds   int
	ReportBatchItemFailures bool
}

// Schedule is a function's Schedule event.
type Schedule struct {
	Name       string // "Function.Event"
	Function   string
	Expression any // rate(...)/cron(...) or a Ref to a parameter
	Input      string
}

// Functions returns the SAM functions, sorted by logical ID.
func (t *Template) Functions() []Function {
	var out []Function
	for _, id := range t.OfType(TypeFunction) {
		p := t.Resources[id].Properties
		f := Function{ID: id, Env: map[string]any{}}
		if vars, ok := Get(p, "Environment", "Variables"); ok {
			if m, ok := vars.(map[string]any); ok {
				f.Env = m
			}
		}
		if role, ok := p["Role"]; ok {
			f.Role, _, _ = Target(role)
		}
		out = append(out, f)
	}
	return out
}

// Topics returns the logical IDs of the SNS topics.
func (t *Template) Topics() []string { return t.OfType(TypeTopic) }

// Queues returns the SQS queues, sorted by logical ID.
func (t *Template) Queues() []Queue {
	var out []Queue
	for _, id := range t.OfType(TypeQueue) {
		p := t.Resources[id].Properties
		q := Queue{ID: id}
		if dlq, ok := Get(p, "RedrivePolicy", "deadLetterTargetArn"); ok {
			q.DeadLetterQueue, _, _ = Target(dlq)
		}
		if n, ok := Get(p, "RedrivePolicy", "maxReceiveCount"); ok {
			f, _ := Number(n)
			q.MaxReceiveCount = int(f)
		}
		if n, ok := Get(p, "VisibilityTimeout"); ok {
			f, _ := Number(n)
			q.VisibilityTimeout = int(f)
		}
		out = append(out, q)
	}
	return out
}

// Subscriptions returns every SNS subscription, sorted by name.
func (t *Template) Subscriptions() ([]Subscription, error) {
	var out []Subscription
	for _, id := range t.OfType(TypeSubscription) {
		p := t.Resources[id].Properties
		s := Subscription{Name: id, Endpoint: p["Endpoint"]}
		s.Topic, _, _ = Target(p["TopicArn"])
		s.Protocol, _ = p["Protocol"].(string)
		if ep, _, ok := Target(p["Endpoint"]); ok && (s.Protocol == "lambda" || s.Protocol == "sqs") {
			s.Endpoint = ep
		}
		s.RawMessageDelivery, _ = p["RawMessageDelivery"].(bool)
		if err := s.setFilter(p); err != nil {
			return nil, fmt.Errorf("subscription %s: %w", id, err)
		}
		if dlq, ok := Get(p, "RedrivePolicy", "deadLetterTargetArn"); ok {
			s.DeadLetterQueue, _, _ = Target(dlq)
		}
		out = append(out, s)
	}
	for _, fn := range t.OfType(TypeFunction) {
		for name, ev := range t.events(fn, "SNS") {
			s := Subscription{Name: fn + "." + name, Protocol: "lambda", Endpoint: fn}
			s.Topic, _, _ = Target(ev["Topic"])
			if err := s.setFilter(ev); err != nil {
				return nil, fmt.Errorf("function %s event %s: %w", fn, name, err)
			}
			if dlq, ok := Get(ev, "RedrivePolicy", "deadLetterTargetArn"); ok {
				s.DeadLetterQueue, _, _ = Target(dlq)
			}
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Subscription) setFilter(props map[string]any) error {
	s.FilterPolicyScope = "MessageAttributes"
	if scope, ok := props["FilterPolicyScope"].(string); ok {
		s.FilterPolicyScope = scope
	}
	fp, ok := props["FilterPolicy"]
	if !ok {
		return nil
	}
	m, ok := fp.(map[string]any)
	if !ok {
		return fmt.Errorf("FilterPolicy is not an object")
	}
	s.FilterPolicy = m
	return s.FilterPolicy.Validate()
}

// QueueSources returns the functions' SQS event sources, sorted by name.
func (t *Template) QueueSources() []QueueSource {
	var out []QueueSource
	for _, fn := range t.OfType(TypeFunction) {
		for name, ev := range t.events(fn, "SQS") {
			qs := QueueSource{Name: fn + "." + name, Function: fn, BatchSize: 10}
			qs.Queue, _, _ = Target(ev["Queue"])
			if n, ok := Number(ev["BatchSize"]); ok {
				qs.BatchSize = int(n)
			}
			if n, ok := Number(ev["MaximumBatchingWindowInSeconds"]); ok {
				qs.BatchingWindowSeconds = int(n)
			}
			types, _ := Strings(ev["FunctionResponseTypes"])
			for _, rt := range types {
				qs.ReportBatchItemFailures = qs.ReportBatchItemFailures || rt == "ReportBatchItemFailures"
			}
			out = append(out, qs)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Schedules returns the functions' Schedule events, sorted by name.
func (t *Template) Schedules() []Schedule {
	var out []Schedule
	for _, fn := range t.OfType(TypeFunction) {
		for name, ev := range t.events(fn, "Schedule") {
			s := Schedule{Name: fn + "." + name, Function: fn, Expression: ev["Schedule"]}
			s.Input, _ = ev["Input"].(string)
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// events returns the properties of fn's events of type typ, by name.
func (t *Template) events(fn, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	evs, _ := t.Resources[fn].Properties["Events"].(map[string]any)
	for name, ev := range evs {
		if et, _ := Get(ev, "Type"); et != typ {
			continue
		}
		props, _ := Get(ev, "Properties")
		m, _ := props.(map[string]any)
		out[name] = m
	}
	return out
}
