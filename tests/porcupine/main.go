// Command porcupine-check checks NetCRAQ histories for linearizability with
// Porcupine (github.com/anishathalye/porcupine), a checker written outside
// NetCRAQ. The history format is in docs/linearizability.md.
//
// Usage: porcupine-check [-timeout 5m] [-html out.html] history.json...
//
// Exit status: 0 when every history is linearizable, 1 when one is not,
// 2 when none is shown non-linearizable but one could not be read or the
// search timed out.
package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

const historyFormat = "netcraq-history/1"

// valueLen is the bytes in a register value.
const valueLen = 16

type historyFile struct {
	Format       string      `json:"format"`
	InitialValue string      `json:"initial_value"`
	Operations   []operation `json:"operations"`
}

// operation is a porcupine.Operation with the format's input and output.
type operation struct {
	ClientId int
	Input    struct {
		Op    string  `json:"op"`
		Key   *int    `json:"key"`
		Value *string `json:"value"`
	}
	Call   int64
	Output struct {
		Value   *string `json:"value"`
		Outcome *string `json:"outcome"`
	}
	Return   int64
	Metadata interface{}
}

// input and output are what the model sees: comparable, values as
// lowercase hex.
type input struct {
	write bool
	key   int
	value string
}

type output struct {
	value string
}

// state is one key's register; not known when the history starts from an
// unknown value and no operation has fixed it yet.
type state struct {
	known bool
	value string
}

func registerModel(initial state) porcupine.Model {
	return porcupine.Model{
		Init: func() interface{} { return initial },
		Step: func(current, in, out interface{}) (bool, interface{}) {
			register, operation := current.(state), in.(input)
			if operation.write {
				return true, state{known: true, value: operation.value}
			}
			read := out.(output).value
			if !register.known {
				return true, state{known: true, value: read}
			}
			return register.value == read, register
		},
		DescribeOperation: func(in, out interface{}) string {
			operation := in.(input)
			if operation.write {
				return fmt.Sprintf("write(%d, %s)", operation.key, operation.value)
			}
			return fmt.Sprintf("read(%d) -> %s", operation.key, out.(output).value)
		},
		DescribeState: func(current interface{}) string {
			if register := current.(state); register.known {
				return register.value
			}
			return "unknown"
		},
	}
}

func hexValue(text *string) (string, error) {
	if text == nil {
		return "", errors.New("no value")
	}
	bytes, err := hex.DecodeString(*text)
	if err != nil || len(bytes) != valueLen {
		return "", fmt.Errorf("value %q is not %d hex digits", *text, 2*valueLen)
	}
	return hex.EncodeToString(bytes), nil
}

// toPorcupine checks one operation against the format and gives it the
// model's input and output.
func toPorcupine(op operation, latestCall int64) (porcupine.Operation, error) {
	if op.Input.Key == nil || *op.Input.Key < 0 || *op.Input.Key > 0xffff {
		return porcupine.Operation{}, errors.New("key missing or not 0..65535")
	}
	if op.Call < 0 || op.Return < op.Call {
		return porcupine.Operation{}, errors.New("Call negative or Return before Call")
	}
	in := input{key: *op.Input.Key}
	var out output
	var err error
	switch op.Input.Op {
	case "read":
		if op.Input.Value != nil || op.Output.Outcome != nil {
			return porcupine.Operation{}, errors.New("a read has no input value and no outcome")
		}
		out.value, err = hexValue(op.Output.Value)
	case "write":
		in.write = true
		in.value, err = hexValue(op.Input.Value)
		if op.Output.Value != nil {
			return porcupine.Operation{}, errors.New("a write has no output value")
		}
		if op.Output.Outcome == nil || (*op.Output.Outcome != "ok" && *op.Output.Outcome != "unknown") {
			return porcupine.Operation{}, errors.New(`a write's outcome must be "ok" or "unknown"`)
		}
		if *op.Output.Outcome == "unknown" && op.Return < latestCall {
			return porcupine.Operation{}, errors.New("a write whose outcome is unknown returns before another operation is invoked")
		}
	default:
		return porcupine.Operation{}, fmt.Errorf("op %q is neither read nor write", op.Input.Op)
	}
	if err != nil {
		return porcupine.Operation{}, err
	}
	return porcupine.Operation{ClientId: op.ClientId, Input: in, Call: op.Call, Output: out, Return: op.Return}, nil
}

// readHistory returns the initial register and the operations by key.
func readHistory(path string) (state, map[int][]porcupine.Operation, error) {
	reader, err := os.Open(path)
	if err != nil {
		return state{}, nil, err
	}
	defer reader.Close()
	var file historyFile
	decoder := json.NewDecoder(reader)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&file); err != nil {
		return state{}, nil, err
	}
	if file.Format != historyFormat {
		return state{}, nil, fmt.Errorf("format %q is not %q", file.Format, historyFormat)
	}
	var initial state
	switch file.InitialValue {
	case "zeros":
		initial = state{known: true, value: strings.Repeat("00", valueLen)}
	case "unknown":
	default:
		return state{}, nil, fmt.Errorf(`initial_value %q is neither "zeros" nor "unknown"`, file.InitialValue)
	}
	var latestCall int64
	for _, op := range file.Operations {
		if op.Call > latestCall {
			latestCall = op.Call
		}
	}
	byKey := map[int][]porcupine.Operation{}
	for index, op := range file.Operations {
		checked, err := toPorcupine(op, latestCall)
		if err != nil {
			return state{}, nil, fmt.Errorf("operation %d: %w", index, err)
		}
		key := checked.Input.(input).key
		byKey[key] = append(byKey[key], checked)
	}
	return initial, byKey, nil
}

type verdict int

const (
	linearizable    verdict = 0
	notLinearizable verdict = 1
	noVerdict       verdict = 2
)

// check checks each key on its own (linearizability is local) and stops at
// the first key that is not linearizable, visualizing it when html is set.
func check(path string, timeout time.Duration, html string) (verdict, string) {
	initial, byKey, err := readHistory(path)
	if err != nil {
		return noVerdict, "error: " + err.Error()
	}
	keys := make([]int, 0, len(byKey))
	operations := 0
	for key, ops := range byKey {
		keys = append(keys, key)
		operations += len(ops)
	}
	sort.Ints(keys)
	model := registerModel(initial)
	timedOut := []string{}
	for _, key := range keys {
		result, info := porcupine.CheckOperationsVerbose(model, byKey[key], timeout)
		switch result {
		case porcupine.Illegal:
			description := fmt.Sprintf("not linearizable: key %d has no linearization", key)
			if html != "" {
				if err := porcupine.VisualizePath(model, info, html); err != nil {
					return notLinearizable, description + "; visualization failed: " + err.Error()
				}
				description += "; see " + html
			}
			return notLinearizable, description
		case porcupine.Unknown:
			timedOut = append(timedOut, fmt.Sprint(key))
		}
	}
	if len(timedOut) > 0 {
		return noVerdict, "inconclusive: the search timed out on key(s) " + strings.Join(timedOut, ", ")
	}
	return linearizable, fmt.Sprintf("linearizable (%d operations, %d keys)", operations, len(keys))
}

func main() {
	timeout := flag.Duration("timeout", 5*time.Minute, "search time allowed per key (0: unlimited)")
	html := flag.String("html", "", "write Porcupine's visualization of the first key not linearizable here (one history only)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: porcupine-check [-timeout 5m] [-html out.html] history.json...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 || (*html != "" && flag.NArg() != 1) {
		flag.Usage()
		os.Exit(int(noVerdict))
	}
	worst := linearizable
	for _, path := range flag.Args() {
		result, description := check(path, *timeout, *html)
		fmt.Printf("%s: %s\n", path, description)
		if result == notLinearizable || (result == noVerdict && worst == linearizable) {
			worst = result
		}
	}
	os.Exit(int(worst))
}
