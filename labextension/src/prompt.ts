/**
 * The `%%dalle` cell language: the first line is the magic with its options, the rest is a
 * prompt, prose with `{name}` fields, `{a|b}` alternatives and `{{`/`}}` literal braces (the
 * grammar of `dalle_nb/prompts.py`). Nothing in a prompt is Python: `#` is not a comment,
 * `in`/`for`/`with` are words.
 */
import { StreamLanguage, StringStream, syntaxHighlighting } from '@codemirror/language';
import { Compartment, EditorState, type Extension, Prec } from '@codemirror/state';
import { Tag, tagHighlighter } from '@lezer/highlight';

/** The cell magics whose body is a prompt (IPython: a cell magic is the first non-blank line). */
export const CELL_MAGIC = /^(?:[ \t]*\n)*%%(?:dalle|dalle_edit|dalle_refine|dalle_batch)(?=[ \t\n]|$)/;

/** Highlighting tags of the prompt syntax; each maps to one CSS class (style/base.css colours them). */
export const promptTags = {
  magic: Tag.define(),
  option: Tag.define(),
  field: Tag.define(),
  choice: Tag.define(),
  mark: Tag.define(),
  brace: Tag.define(),
  error: Tag.define()
};

const classes = tagHighlighter([
  { tag: promptTags.magic, class: 'dalle-nb-magic' },
  { tag: promptTags.option, class: 'dalle-nb-option' },
  { tag: promptTags.field, class: 'dalle-nb-field' },
  { tag: promptTags.choice, class: 'dalle-nb-choice' },
  { tag: promptTags.mark, class: 'dalle-nb-mark' },
  { tag: promptTags.brace, class: 'dalle-nb-brace' },
  { tag: promptTags.error, class: 'dalle-nb-error' }
]);

type Phase = 'before' | 'magic' | 'body';

interface State {
  phase: Phase;
  /** inside a `{...}` that continues on the next line: a variable field or a list of alternatives */
  open: 'field' | 'choice' | null;
}

const IDENTIFIER_START = /^\s*[A-Za-z_\u00a1-\uffff]/;

/** The magic line: `%%dalle` (styled as JupyterLab styles keywords), options, and numbers and strings as in Python. */
function magicToken(stream: StringStream): string | null {
  if (stream.eatSpace()) {
    return null;
  }
  if (stream.match(/^%%\w+/)) {
    return 'keyword dalleMagic';
  }
  if (stream.match(/^--?[A-Za-z][\w-]*/)) {
    return 'dalleOption';
  }
  if (stream.match(/^"(?:[^"\\]|\\.)*"?/) || stream.match(/^'(?:[^'\\]|\\.)*'?/)) {
    return 'string';
  }
  if (stream.match(/^[A-Za-z_][\w.]*/)) {
    return null;
  }
  if (stream.match(/^\d[\d.]*(?:x\d+)?/)) {
    return 'number';
  }
  stream.next();
  return null;
}

/** Where a `{` at the stream's position leads, looking at the rest of its line. */
function openField(stream: StringStream, state: State): string {
  const rest = stream.string.slice(stream.pos + 1);
  const close = rest.indexOf('}');
  const nested = rest.indexOf('{');
  stream.next();
  if (nested !== -1 && (close === -1 || nested < close)) {
    return 'dalleError'; // prompts.py: "unclosed '{'"
  }
  const body = close === -1 ? rest : rest.slice(0, close);
  if (body.includes('|')) {
    state.open = 'choice';
    return 'dalleChoice dalleMark';
  }
  if (close !== -1 && !IDENTIFIER_START.test(body)) {
    stream.pos += close + 1; // `{}` or `{ 3 }`: not a variable, an error at run time
    return 'dalleError';
  }
  state.open = 'field';
  return 'dalleField dalleMark';
}

function bodyToken(stream: StringStream, state: State): string | null {
  if (state.open !== null) {
    const kind = state.open === 'field' ? 'dalleField' : 'dalleChoice';
    if (stream.eat('}')) {
      state.open = null;
      return `${kind} dalleMark`;
    }
    if (state.open === 'choice' && stream.eat('|')) {
      return 'dalleChoice dalleMark';
    }
    if (stream.eat('{')) {
      return 'dalleError';
    }
    stream.match(state.open === 'field' ? /^[^{}]+/ : /^[^{}|]+/);
    return kind;
  }
  if (stream.match('{{') || stream.match('}}')) {
    return 'dalleBrace';
  }
  if (stream.peek() === '{') {
    return openField(stream, state);
  }
  if (stream.eat('}')) {
    return 'dalleError'; // prompts.py: "single '}'"
  }
  stream.match(/^[^{}]+/);
  return null;
}

export const promptLanguage = StreamLanguage.define<State>({
  name: 'dalle-prompt',
  startState: () => ({ phase: 'before', open: null }),
  copyState: state => ({ ...state }),
  token(stream, state) {
    if (stream.sol()) {
      if (state.phase === 'before' && stream.string.trim() !== '') {
        state.phase = 'magic';
      } else if (state.phase === 'magic') {
        state.phase = 'body';
      }
    }
    if (state.phase === 'before') {
      stream.skipToEnd();
      return null;
    }
    return state.phase === 'magic' ? magicToken(stream) : bodyToken(stream, state);
  },
  blankLine(state) {
    if (state.phase === 'magic') {
      state.phase = 'body';
    }
  },
  tokenTable: {
    dalleMagic: promptTags.magic,
    dalleOption: promptTags.option,
    dalleField: promptTags.field,
    dalleChoice: promptTags.choice,
    dalleMark: promptTags.mark,
    dalleBrace: promptTags.brace,
    dalleError: promptTags.error
  }
});

/** What the extension needs of a JupyterLab editor model (`CodeEditor.IModel`). */
export interface IPromptModel {
  readonly mimeType: string;
  readonly sharedModel: { getSource(): string };
}

/** Code cells and Python files: where IPython runs a cell magic (not markdown or raw cells). */
const CODE_MIMETYPES = new Set(['text/x-ipython', 'text/x-python']);

/**
 * The editor extension: while a code cell's text starts with a dalle cell magic, the prompt
 * language takes precedence over the cell's own (Python); any other cell keeps its language.
 * A compartment holds the prompt language only while it applies, so other editors are untouched.
 */
export function promptHighlighting(model: IPromptModel): Extension {
  const compartment = new Compartment();
  const on: Extension = Prec.highest(promptLanguage.extension);
  const wanted = (text: string): boolean => CODE_MIMETYPES.has(model.mimeType) && CELL_MAGIC.test(text);
  return [
    compartment.of(wanted(model.sharedModel.getSource().slice(0, 200)) ? on : []),
    // every transaction, not only edits: a kernel's mimetype arrives as a reconfiguration
    EditorState.transactionExtender.of(tr => {
      const want = wanted(tr.newDoc.sliceString(0, 200));
      const have = compartment.get(tr.startState) === on;
      return want === have ? null : { effects: compartment.reconfigure(want ? on : []) };
    }),
    syntaxHighlighting(classes)
  ];
}
