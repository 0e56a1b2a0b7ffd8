// A typed value as the UI shows it: scalars inline; containers as an expandable tree whose
// "Expand all" opens every nested level; tensors, tables, images, plots and blobs in their own
// views. One module per kind: a new type is one more view here.
import { useEffect, useMemo, useState } from 'react';
import { api, errorMessage, urls } from '../../api/client';
import type { TypeDesc, TypedValue, Value } from '../../api/types';
import { formatBytes } from '../../logic/format';
import { base64ToBytes, expandablePaths, valueTree, type ValueNode } from '../../logic/values';
import { CopyButton, ErrorBanner, Link } from '../common';
import { PlotView } from './PlotView';
import { TableView } from './TableView';
import { TensorView } from './TensorView';

export function ArtifactValue({ digest, testid }: { digest: string; testid?: string }) {
  const [value, setValue] = useState<TypedValue | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    setValue(null);
    api.artifactValue(digest).then((v) => { if (live) setValue(v); }).catch((e) => { if (live) setError(errorMessage(e)); });
    return () => { live = false; };
  }, [digest]);
  return (
    <div className="artifact" data-testid={testid ?? 'artifact-value'} data-digest={digest}>
      <div className="artifact-head">
        <Link href={`/artifacts/${digest}`} className="mono small-text" title="artifact page and lineage">{digest.slice(0, 16)}…</Link>
        <CopyButton text={digest} label="copy artifact id" testid="copy-artifact-id" />
      </div>
      <ErrorBanner message={error} />
      {value ? <ValueView type={value.type} value={value.value} digest={digest} /> : !error && <div className="muted">Loading value…</div>}
    </div>
  );
}

export function ValueView({ type, value, digest }: { type?: TypeDesc; value?: Value; digest?: string }) {
  const tree = useMemo(() => valueTree(type, value), [type, value]);
  if (tree.special) return <SpecialView node={tree} digest={digest} />;
  if (!tree.children) {
    return <div className="value-scalar" data-testid="value-scalar"><span className="muted">{tree.typeName}</span> <span className="mono">{tree.summary}</span></div>;
  }
  return <ValueTree tree={tree} digest={digest} />;
}

function ValueTree({ tree, digest }: { tree: ValueNode; digest?: string }) {
  const [open, setOpen] = useState<Set<string>>(() => new Set([tree.path]));
  const all = useMemo(() => {
    const paths = expandablePaths(tree);
    const specials: string[] = [];
    const walk = (n: ValueNode) => { if (n.special) specials.push(n.path); n.children?.forEach(walk); };
    walk(tree);
    return [...paths, ...specials];
  }, [tree]);
  return (
    <div className="value-tree" data-testid="value-tree">
      <div className="value-tools">
        <button className="small" data-testid="expand-all" onClick={() => setOpen(new Set(all))}>Expand all</button>
        <button className="small" data-testid="collapse-all" onClick={() => setOpen(new Set())}>Collapse all</button>
      </div>
      <TreeRow node={tree} open={open} setOpen={setOpen} depth={0} digest={digest} />
    </div>
  );
}

function TreeRow({ node, open, setOpen, depth, digest }: { node: ValueNode; open: Set<string>;
  setOpen: (s: Set<string>) => void; depth: number; digest?: string }) {
  const expandable = !!(node.children?.length || node.special);
  const isOpen = open.has(node.path);
  const toggle = () => {
    const n = new Set(open);
    if (isOpen) n.delete(node.path); else n.add(node.path);
    setOpen(n);
  };
  return (
    <div>
      <div className="value-row" style={{ paddingLeft: depth * 16 }} data-testid="value-row" data-path={node.path}
        data-open={expandable ? String(isOpen) : undefined} onClick={expandable ? toggle : undefined}>
        <span className="twisty">{expandable ? (isOpen ? '▾' : '▸') : ''}</span>
        <span className="value-label">{node.label}</span>
        <span className="muted small-text">{node.typeName}</span>
        <span className="mono value-summary">{node.summary}</span>
      </div>
      {isOpen && node.special && <div style={{ paddingLeft: depth * 16 + 16 }}><SpecialView node={node} digest={digest} /></div>}
      {isOpen && node.children?.map((c) => (
        <TreeRow key={c.path} node={c} open={open} setOpen={setOpen} depth={depth + 1} digest={digest} />
      ))}
    </div>
  );
}

function SpecialView({ node, digest }: { node: ValueNode; digest?: string }) {
  const v = node.special!.value;
  switch (node.special!.kind) {
    case 'TENSOR': return <TensorView tensor={v.tensorValue!} />;
    case 'TABLE': return <TableView table={v.tableValue!} />;
    case 'PLOT': return <PlotView spec={v.plotValue?.vegaLiteJson ?? ''} />;
    case 'IMAGE': {
      const im = v.imageValue!;
      // The /image route serves the whole artifact's image (top-level values); a nested image
      // is shown from its inline bytes.
      const src = digest && node.path === '$' ? urls.image(digest)
        : im.data ? `data:image/${im.format === 'JPEG' ? 'jpeg' : 'png'};base64,${im.data}`
          : im.dataRef ? '' : '';
      return (
        <div className="image-view" data-testid="image-view">
          <div className="muted small-text">{im.format} {im.width}×{im.height}</div>
          {src ? <img src={src} alt="artifact image" data-testid="artifact-image" width={im.width} height={im.height}
            style={{ imageRendering: 'pixelated', minWidth: Math.min(256, im.width * 16), height: 'auto' }} />
            : im.dataRef && <a href={urls.bytes(im.dataRef.digest)}>download image ({formatBytes(Number(im.dataRef.size))})</a>}
        </div>
      );
    }
    case 'BLOB': {
      const b = v.blobValue!;
      const size = b.dataRef ? Number(b.dataRef.size) : base64ToBytes(b.data).length;
      const href = b.dataRef ? urls.bytes(b.dataRef.digest) : digest && node.path === '$' ? urls.bytes(digest)
        : `data:application/octet-stream;base64,${b.data}`;
      return (
        <div className="blob-view" data-testid="blob-view">
          <span>{formatBytes(size)}</span> <a href={href} download data-testid="blob-download">download</a>
          {!b.dataRef && digest && node.path === '$' && <span className="muted small-text"> (the serialized value)</span>}
        </div>
      );
    }
    default: return null;
  }
}
