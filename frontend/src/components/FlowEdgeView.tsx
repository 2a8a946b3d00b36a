// An edge: a bezier from an output port to an input port. An evaluator's retry loop is drawn
// dashed, under the nodes, with its attempt bound; an edge with a problem is red with a marker.
import { BaseEdge, EdgeLabelRenderer, getBezierPath, type EdgeProps } from "@xyflow/react";
import { memo } from "react";
import { useCanvas } from "../context";
import type { FlowEdge } from "../graph";
import { Icon } from "../icons";
import { useStore } from "../store";

function loopPath(sx: number, sy: number, tx: number, ty: number): [string, number, number] {
  const drop = Math.max(sy, ty) + 90;
  const path = `M ${sx} ${sy} C ${sx + 80} ${sy}, ${sx + 80} ${drop}, ${sx} ${drop} L ${tx} ${drop} C ${tx - 80} ${drop}, ${tx - 80} ${ty}, ${tx} ${ty}`;
  return [path, (sx + tx) / 2, drop];
}

function FlowEdgeView(props: EdgeProps<FlowEdge>) {
  const { id, source, sourceHandleId, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, selected, markerEnd } = props;
  const { store } = useCanvas();
  const retry = useStore(store, (s) => s.retryEdges.has(id));
  const attempts = useStore(store, (s) => s.maxAttempts[source]);
  const problems = useStore(store, (s) => s.byEdge[id]);
  const diff = useStore(store, (s) => s.diff?.edges[id]);
  // In a run: an edge out of a finished step was taken if its port was one the step chose.
  const run = useStore(store, (s) => {
    const ports = s.runInfo[source]?.ports;
    if (!ports) return "";
    return ports.includes(sourceHandleId ?? "out") ? "run-taken" : "run-untaken";
  });
  const backwards = targetX < sourceX;
  const [path, labelX, labelY] =
    retry && backwards
      ? loopPath(sourceX, sourceY, targetX, targetY)
      : getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  const classes = [
    "sb-edge",
    retry ? "is-retry" : "",
    selected ? "is-selected" : "",
    problems?.length ? "has-problems" : "",
    diff ? `diff-${diff}` : "",
    run,
  ].join(" ");
  return (
    <>
      <BaseEdge id={id} path={path} markerEnd={markerEnd} className={classes} interactionWidth={16} />
      {(retry || problems?.length) && (
        <EdgeLabelRenderer>
          <div
            className={`sb-edge-label nodrag nopan${problems?.length ? " is-problem" : ""}${retry ? " is-retry" : ""}`}
            style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}
            data-edge-id={id}
            title={problems?.map((p) => p.message).join("\n")}
          >
            {problems?.length ? <Icon name="alert" size={12} /> : <Icon name="retry" size={12} />}
            {problems?.length ? problems[0].message : `retry · up to ${attempts ?? 3} attempts`}
          </div>
        </EdgeLabelRenderer>
      )}
    </>
  );
}

export default memo(FlowEdgeView);
