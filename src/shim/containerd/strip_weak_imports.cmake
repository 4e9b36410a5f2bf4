# cmake -DIN=<proto> -DOUT=<proto> -P strip_weak_imports.cmake: writes IN to OUT
# with every `import weak "x";` turned into `import "x";` (protoc's C++
# generator refuses weak imports; see CMakeLists.txt here).
file(READ ${IN} text)
string(REGEX REPLACE "(^|\n)import weak " "\\1import " text "${text}")
get_filename_component(dir ${OUT} DIRECTORY)
file(MAKE_DIRECTORY ${dir})
file(WRITE ${OUT} "${text}")
