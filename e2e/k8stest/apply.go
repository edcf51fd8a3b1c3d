package k8stest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// Dynamic returns an admin dynamic client.
func (c *Cluster) Dynamic(t testing.TB) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(c.RESTConfig)
	if err != nil {
		t.Fatalf("k8stest: dynamic client: %v", err)
	}
	return d
}

// ApplyFile creates every object in a multi-document YAML file, as `kubectl create -f`
// would. With dryRun the apiserver validates and admits each object (server-side dry
// run) but stores nothing. It returns the objects as the apiserver answered them.
func (c *Cluster) ApplyFile(t testing.TB, path string, dryRun bool) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("k8stest: %v", err)
	}
	objs, err := c.Apply(t, data, dryRun)
	if err != nil {
		t.Fatalf("k8stest: applying %s: %v", path, err)
	}
	return objs
}

// Apply is ApplyFile for YAML in memory; it returns the first error the apiserver gave.
func (c *Cluster) Apply(t testing.TB, data []byte, dryRun bool) ([]*unstructured.Unstructured, error) {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(c.RESTConfig)
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn := c.Dynamic(t)
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var raw map[string]any
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("decoding YAML: %w", err)
		}
		if len(raw) == 0 {
			continue // an empty document between ---
		}
		obj := &unstructured.Unstructured{Object: raw}
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return out, fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := obj.GetNamespace()
			if ns == "" {
				ns = "default"
			}
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		created, err := ri.Create(ctx(t), obj, opts)
		if err != nil {
			return out, fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		out = append(out, created)
	}
}

// WaitForResource polls until the apiserver serves gvr (a CRD just created becomes
// usable a moment after creation).
func (c *Cluster) WaitForResource(t testing.TB, gvr schema.GroupVersionResource) {
	t.Helper()
	dyn := c.Dynamic(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := dyn.Resource(gvr).List(ctx(t), metav1.ListOptions{Limit: 1})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("k8stest: %s not served after 30s: %v", gvr, err)
		}
		if !apierrors.IsNotFound(err) && !meta.IsNoMatchError(err) {
			t.Logf("k8stest: waiting for %s: %v", gvr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
