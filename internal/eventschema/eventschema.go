package eventschema

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/stsrotator/stsrotator/shared/events"
)

var (
	mu       sync.Mutex
	compiled = map[string]*jsonschema.Schema{}
)

// Validate checks detail against the schema of detailType; root is the
// repository root (awstest.RepoRoot).
func Validate(root, detailType string, detail []byte) error {
	file, ok := events.SchemaFiles[detailType]
	if !ok {
		return fmt.Errorf("detail-type %q has no schema in events.SchemaFiles", detailType)
	}
	sch, err := schema(filepath.Join(root, "docs", file))
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(detail))
	if err != nil {
		return fmt.Errorf("%s detail is not JSON: %w", detailType, err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("%s detail does not match docs/%s: %w\n%s", detailType, file, err, detail)
	}
	return nil
}

func schema(path string) (*jsonschema.Schema, error) {
	mu.Lock()
	defer mu.Unlock()
	if s, ok := compiled[path]; ok {
		return s, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile(path)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", path, err)
	}
	compiled[path] = s
	return s, nil
}
