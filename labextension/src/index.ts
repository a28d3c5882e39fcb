/**
 * dalle-nb-highlight: `%%dalle` cells are highlighted as prompts, not as Python, in every
 * CodeMirror editor of JupyterLab 4 and Notebook 7 (cells, consoles, files).
 */
import { EditorExtensionRegistry, IEditorExtensionFactory, IEditorExtensionRegistry } from '@jupyterlab/codemirror';

import { promptHighlighting } from './prompt';

const plugin = {
  id: 'dalle-nb-highlight:plugin',
  description: 'Highlights %%dalle cell bodies as prompts: {name} fields, {a|b} alternatives, {{ }} literal braces.',
  autoStart: true,
  requires: [IEditorExtensionRegistry],
  activate: (_app: unknown, registry: IEditorExtensionRegistry): void => {
    registry.addExtension(
      Object.freeze({
        name: 'dalle-nb-highlight:prompt',
        // every editor gets it; it only acts while a code cell starts with a dalle cell magic
        factory: (options: IEditorExtensionFactory.IOptions) =>
          EditorExtensionRegistry.createImmutableExtension(promptHighlighting(options.model))
      })
    );
  }
};

export default plugin;
