// The banner over a past version or a diff shown on the canvas, and its read-only canvas.
import { applyNodeChanges } from "@xyflow/react";
import { useState } from "react";
import type { Catalogue, FlowEdge, FlowNode } from "../../graph";
import type { View } from "../../hooks/useVersions";
import { FlowCanvas } from "../Canvas";

export function ViewBanner({ viewing, readOnly, onRestore, onBack }: {
  viewing: Exclude<View, { kind: "draft" }>;
  readOnly: boolean;
  onRestore: (n: number) => void;
  onBack: () => void;
}) {
  return (
    <div className={`sb-view-banner view-${viewing.kind}`} role="status">
      {viewing.kind === "version" ? (
        <span>
          <strong>Viewing v{viewing.number}</strong> · read only · {viewing.version.note || "no note"}
        </span>
      ) : (
        <span>
          <strong>{viewing.title}</strong>
          <span className="sb-legend">
            <span className="diff-added">added</span>
            <span className="diff-changed">changed</span>
            <span className="diff-removed">removed</span>
          </span>
        </span>
      )}
      <span className="sb-view-actions">
        {viewing.kind === "version" && !readOnly && (
          <button type="button" className="sb-btn sb-btn-sm" onClick={() => onRestore(viewing.number)}>
            Restore into draft
          </button>
        )}
        <button type="button" className="sb-btn sb-btn-sm sb-btn-primary" onClick={onBack}>
          Back to draft
        </button>
      </span>
    </div>
  );
}

export function ViewCanvas({ nodes: initialNodes, edges, catalogue }: { nodes: FlowNode[]; edges: FlowEdge[]; catalogue: Catalogue }) {
  const [nodes, setNodes] = useState(initialNodes);
  return (
    <FlowCanvas
      nodes={nodes}
      edges={edges}
      readOnly
      onNodesChange={(changes) => setNodes((ns) => applyNodeChanges(changes, ns))}
      categoryOf={(k) => catalogue[k]?.category ?? ""}
      label="Read-only flow canvas"
    />
  );
}
