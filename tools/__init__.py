"""Developer tools: run the Pulumi program offline (synth) under Pulumi's mocks."""
