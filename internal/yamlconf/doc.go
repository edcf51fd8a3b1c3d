// Package yamlconf decodes one configuration file: strictly (unknown keys are errors) and
// as exactly one YAML document, so settings after a stray "---" are refused rather than
// silently ignored.
package yamlconf
