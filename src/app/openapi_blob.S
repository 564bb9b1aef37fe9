/* The OpenAPI document, built into the binary as bytes (see app.cc: OpenApiDocument). */
    .section .rodata
    .global lw_openapi_start
    .global lw_openapi_end
lw_openapi_start:
    .incbin OPENAPI_PATH
lw_openapi_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
