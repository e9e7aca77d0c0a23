"""A real MCP client (the official Python SDK, `mcp` from PyPI) against the connector's /v1/mcp.

Run by crates/server/tests/it/mcp.rs: `python mcp_client.py PLAN.json`. The plan names the
URL, the headers and the calls to make; what the server answered is printed as one JSON object
on stdout, and the Rust test asserts on it (against the simulator's data). The SDK itself
validates every successful tool result against the tool's output schema and raises on a
mismatch, so a wrong schema or result fails here.
"""

import asyncio
import json
import sys

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


def dump(result):
    return {
        "isError": bool(result.is_error),
        "structured": result.structured_content,
        "text": [c.text for c in result.content if getattr(c, "type", None) == "text"],
    }


async def main(plan):
    out = {}
    async with httpx2.AsyncClient(headers=plan["headers"], timeout=30) as http:
        async with streamable_http_client(plan["url"], http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                out["server"] = init.server_info.name
                out["protocolVersion"] = str(init.protocol_version)
                tools = await session.list_tools()
                out["tools"] = [
                    {
                        "name": t.name,
                        "title": t.title,
                        "description": t.description,
                        "inputSchema": t.input_schema,
                        "outputSchema": t.output_schema,
                        "annotations": t.annotations.model_dump(by_alias=True, exclude_none=True)
                        if t.annotations
                        else None,
                    }
                    for t in tools.tools
                ]
                # Page a list to its end with its cursor.
                pages = []
                args = dict(plan["page"]["arguments"])
                for _ in range(200):
                    r = await session.call_tool(plan["page"]["tool"], args)
                    pages.append(dump(r))
                    if r.is_error or r.structured_content["next"] is None:
                        break
                    args = dict(plan["page"]["arguments"], cursor=r.structured_content["next"])
                out["pages"] = pages
                out["calls"] = []
                for call in plan["calls"]:
                    r = await session.call_tool(call["tool"], call.get("arguments", {}))
                    out["calls"].append(dump(r))
    print(json.dumps(out))


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        asyncio.run(main(json.load(f)))
